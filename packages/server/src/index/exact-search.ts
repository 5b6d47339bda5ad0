/**
 * Exact search over VectorChunks with the SIMD kernel: whole ranges (a scan, blocks copied
 * into kernel memory) or picked ordinals (a gather). Synchronous; callers that must not hold
 * the event loop split ranges into slices (dataset-index.ts).
 */
import type { DistanceKernel } from './distance-kernel.ts';
import { distanceFromKey, type Metric } from './metric.ts';
import { TopK } from './top-k.ts';
import type { VectorChunks } from './vector-chunks.ts';
import type { SearchHits } from './vector-index.ts';

export type OrdinalFilter = (ordinal: number) => boolean;

/** Offers rows [from, to) to `tops[q]` for each query q of `queries` (count x dimensions). */
export function scanRange(
  kernel: DistanceKernel, chunks: VectorChunks, queries: Float32Array, tops: TopK[],
  from: number, to: number, allowed?: OrdinalFilter,
): void {
  for (const range of chunks.ranges(from, to)) {
    const firstOrdinal = range.firstOrdinal;
    kernel.scan(queries, range.vectors, range.fromRow, range.toRow, (query, keys, firstRow, rows) => {
      tops[query].pushBlock(keys, rows, firstOrdinal + firstRow, allowed);
    });
  }
}

/** Offers the rows `ordinals` (any order, all < chunks.rows) to `top` for one query. */
export function scanPicked(
  kernel: DistanceKernel, chunks: VectorChunks, query: Float32Array, top: TopK,
  ordinals: ArrayLike<number>, allowed?: OrdinalFilter,
): void {
  let picked: ArrayLike<number> = ordinals;
  if (allowed) {
    const kept: number[] = [];
    for (let i = 0; i < ordinals.length; i++) if (allowed(ordinals[i])) kept.push(ordinals[i]);
    picked = kept;
  }
  kernel.scanPicked(query, picked.length, (index) => chunks.row(picked[index]), (_, keys, firstRow, rows) => {
    for (let i = 0; i < rows; i++) top.push(keys[i], picked[firstRow + i]);
  });
}

/** The kept rows of `top` as results, best first. */
export function hitsFrom(top: TopK, metric: Metric): SearchHits {
  const { keys, ordinals } = top.sorted();
  return { ordinals, distances: keys.map((key) => distanceFromKey(metric, key)) };
}

/** Both filters (either may be absent). */
export function bothFilters(first: OrdinalFilter | undefined, second: OrdinalFilter | undefined): OrdinalFilter | undefined {
  if (!first) return second;
  if (!second) return first;
  return (ordinal) => first(ordinal) && second(ordinal);
}
