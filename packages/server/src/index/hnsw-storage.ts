/**
 * The precision of an HNSW graph's own copy of the vectors (LONGBOW_HNSW_STORAGE), and the int8
 * quantization the i8 precision uses. Kept apart from hnsw-index.ts so that the configuration can
 * name the choices without loading usearch's native addon.
 */
import { INDEX_INT8_SCALE_SAMPLE_BYTES, INDEX_INT8_SCALE_SAMPLE_ROWS } from '../limits.ts';

export type HnswStorage = 'f32' | 'bf16' | 'f16' | 'i8';

export const HNSW_STORAGES: readonly HnswStorage[] = ['f32', 'bf16', 'f16', 'i8'];

/**
 * i8: a quarter of f32's memory and the fastest graph walks (the least memory traffic per
 * neighbour: 1.2-1.3x bf16's searches as served on the bench), with the same served recall once
 * DatasetIndex re-scores its candidates exactly (limits.ts: more of them under dot_product,
 * whose best matches the scale may clip). bf16 (half
 * of f32, float32's range) remains the choice for data whose range the first rows do not show
 * (i8 clips beyond it) or for very few dimensions; f16 overflows past 65,504. See
 * docs/search.md, "Graph precision", and docs/performance.md.
 */
export const HNSW_STORAGE_DEFAULT: HnswStorage = 'i8';

/**
 * Whether a graph of this storage and metric takes one scale for all its vectors (i8 with
 * euclidean or dot_product; cosine scales each vector by its own, float storage none).
 */
export function takesScale(storage: HnswStorage, metric: string): boolean {
  return storage === 'i8' && metric !== 'cosine';
}

/**
 * The largest finite |value| of the `samples`, 0 when they hold nothing but zeros, NaN and
 * infinities.
 */
export function largestMagnitude(...samples: Float32Array[]): number {
  let largest = 0;
  for (const sample of samples) {
    for (let i = 0; i < sample.length; i++) {
      const magnitude = Math.abs(sample[i]);
      if (magnitude > largest && magnitude !== Infinity) largest = magnitude;
    }
  }
  return largest;
}

/**
 * The i8 scale for a dataset whose sampled rows have these largest |values| (one per row, each
 * finite and above zero): 127 / the 99.9th percentile of them, so that a few outlying rows
 * (up to one in a thousand) do not set the scale for all the others, which would leave them
 * few int8 levels; the outliers' values are clipped instead. Undefined for no rows.
 */
export function int8ScaleFromRows(rowMaxima: ArrayLike<number>): number | undefined {
  if (rowMaxima.length === 0) return undefined;
  const sorted = Float64Array.from(rowMaxima).sort();
  return 127 / sorted[Math.floor(INT8_SCALE_ROW_QUANTILE * (sorted.length - 1))];
}

const INT8_SCALE_ROW_QUANTILE = 0.999;

/**
 * Rows an i8 scale is sampled from: those in the first INDEX_INT8_SCALE_SAMPLE_BYTES of vectors,
 * at most INDEX_INT8_SCALE_SAMPLE_ROWS (at least one).
 */
export function int8ScaleSampleRows(dimensions: number): number {
  return Math.max(1, Math.min(INDEX_INT8_SCALE_SAMPLE_ROWS, Math.floor(INDEX_INT8_SCALE_SAMPLE_BYTES / (dimensions * 4))));
}

/**
 * Rows of `vectors` as int8: each value times `scale`, rounded and clipped to [-127, 127]. With
 * `scale` null, each row gets its own, 127 / its largest |value| (written to `rowScales` when
 * given; 0 for a row of zeros): for cosine, where a row's scale does not change its angle, and
 * for dot_product queries, where it scales every score alike (and is divided out of the
 * distances).
 */
export function quantizeInt8(vectors: Float32Array, dimensions: number, scale: number | null, rowScales?: Float64Array): Int8Array {
  const out = new Int8Array(vectors.length);
  for (let start = 0, row = 0; start < vectors.length; start += dimensions, row++) {
    let factor = scale ?? 0;
    if (scale === null) {
      const largest = largestMagnitude(vectors.subarray(start, start + dimensions));
      factor = largest > 0 ? 127 / largest : 0;
      if (rowScales) rowScales[row] = factor;
    }
    for (let i = start; i < start + dimensions; i++) {
      const value = Math.round(vectors[i] * factor);
      out[i] = value > 127 ? 127 : value < -127 ? -127 : value;
    }
  }
  return out;
}
