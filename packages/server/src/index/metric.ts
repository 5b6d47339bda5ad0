/**
 * Vector metrics: which one a dataset uses (schema metadata `longbow.metric`), the distance each
 * reports (lower is closer) and the score (higher is closer). docs/search.md states the same
 * formulas; the flat and HNSW indexes report the same numbers for the same pair because every
 * reported distance comes from one kernel (src/index/distance-kernel.ts).
 *
 * | metric      | distance                        | score                 |
 * | ----------- | ------------------------------- | --------------------- |
 * | euclidean   | sqrt(sum((a - b)^2))            | 1 / (1 + distance)    |
 * | cosine      | 1 - a.b / (|a| |b|)             | 1 - distance (= cos)  |
 * | dot_product | 1 - a.b                         | 1 - distance (= a.b)  |
 *
 * Cosine with a zero vector: distance 1 (cos 0); both zero: distance 0.
 */

export const METRICS = ['euclidean', 'cosine', 'dot_product'] as const;
export type Metric = (typeof METRICS)[number];

export const METRIC_METADATA_KEY = 'longbow.metric';
export const METRIC_DEFAULT: Metric = 'euclidean';

/** Thrown for a `longbow.metric` value that is not one of METRICS. */
export class UnknownMetricError extends Error {
  override readonly name = 'UnknownMetricError';
  constructor(readonly value: string) {
    super(`${METRIC_METADATA_KEY} must be one of ${METRICS.join(', ')}, got "${value}"`);
  }
}

export function isMetric(value: string): value is Metric {
  return (METRICS as readonly string[]).includes(value);
}

/** The metric named by schema metadata (euclidean when absent). Throws UnknownMetricError. */
export function metricFromMetadata(metadata: ReadonlyMap<string, string>): Metric {
  return parseMetric(metadata.get(METRIC_METADATA_KEY));
}

/** Parses a metric name (euclidean when undefined). Throws UnknownMetricError. */
export function parseMetric(text: string | undefined): Metric {
  if (text === undefined) return METRIC_DEFAULT;
  if (!isMetric(text)) throw new UnknownMetricError(text);
  return text;
}

/**
 * What the kernels compute per pair: a "rank key", lower is closer, cheap to compare. The
 * reported distance is derived from it only for the results (euclidean: the square root).
 */
export type KernelKind = 'l2sq' | 'negative_dot' | 'cosine_distance';

/** usearch's metric for each of ours (same ranking; usearch's l2sq is the squared distance). */
export type UsearchMetricName = 'l2sq' | 'ip' | 'cos';

export interface MetricSpec {
  metric: Metric;
  kernel: KernelKind;
  usearch: UsearchMetricName;
}

const SPECS: Record<Metric, MetricSpec> = {
  euclidean: { metric: 'euclidean', kernel: 'l2sq', usearch: 'l2sq' },
  cosine: { metric: 'cosine', kernel: 'cosine_distance', usearch: 'cos' },
  dot_product: { metric: 'dot_product', kernel: 'negative_dot', usearch: 'ip' },
};

export function metricSpec(metric: Metric): MetricSpec {
  return SPECS[metric];
}

/**
 * The reported distance for a rank key. Keys: euclidean = squared distance, cosine = the
 * distance itself, dot_product = -a.b (so the score keeps the dot product's full precision).
 */
export function distanceFromKey(metric: Metric, key: number): number {
  if (metric === 'euclidean') return Math.sqrt(Math.max(0, key));
  return metric === 'dot_product' ? 1 + key : key;
}

/** The rank key for a reported distance (inverse of distanceFromKey). */
export function keyFromDistance(metric: Metric, distance: number): number {
  if (metric === 'euclidean') return distance * distance;
  return metric === 'dot_product' ? distance - 1 : distance;
}

/** Score for a rank key: higher is closer. */
export function scoreFromKey(metric: Metric, key: number): number {
  if (metric === 'euclidean') return 1 / (1 + Math.sqrt(Math.max(0, key)));
  return metric === 'dot_product' ? -key : 1 - key;
}

/** Score for a reported distance: higher is closer. */
export function scoreFromDistance(metric: Metric, distance: number): number {
  return scoreFromKey(metric, keyFromDistance(metric, distance));
}
