/**
 * Exact (flat) index: every search scores every row with the SIMD kernel. It references the
 * vectors it is given (views of Arrow buffers), copying nothing. Used for small datasets, for
 * `exact: true`, for the unindexed tail of an HNSW index, and as ground truth in tests.
 */
import { DistanceKernel } from './distance-kernel.ts';
import { bothFilters, hitsFrom, scanRange } from './exact-search.ts';
import { metricSpec, type Metric } from './metric.ts';
import { TopK } from './top-k.ts';
import { VectorChunks } from './vector-chunks.ts';
import type { IndexSearchOptions, SearchHits, VectorIndex } from './vector-index.ts';

export class FlatIndex implements VectorIndex {
  readonly chunks: VectorChunks;
  readonly kernel: DistanceKernel;
  private readonly removed = new Set<number>();
  private readonly notRemoved = (ordinal: number): boolean => !this.removed.has(ordinal);

  constructor(readonly dimensions: number, readonly metric: Metric) {
    this.chunks = new VectorChunks(dimensions);
    this.kernel = new DistanceKernel(metricSpec(metric).kernel, dimensions);
  }

  get size(): number { return this.chunks.rows; }

  /** Only the removed set: the vectors belong to the caller. */
  get memoryBytes(): number { return this.removed.size * 16; }

  add(firstOrdinal: number, vectors: Float32Array): void {
    this.chunks.append(firstOrdinal, vectors);
  }

  remove(ordinal: number): void {
    if (ordinal >= 0 && ordinal < this.size) this.removed.add(ordinal);
  }

  search(query: Float32Array, k: number, options: IndexSearchOptions = {}): SearchHits {
    return this.searchBatch(query, k, options)[0];
  }

  searchBatch(queries: Float32Array, k: number, options: IndexSearchOptions = {}): SearchHits[] {
    const count = queries.length / this.dimensions;
    if (!Number.isInteger(count) || count < 1) {
      throw new RangeError(`queries hold ${queries.length} values, not a positive multiple of ${this.dimensions}`);
    }
    const tops = Array.from({ length: count }, () => new TopK(k));
    const allowed = bothFilters(this.removed.size > 0 ? this.notRemoved : undefined, options.filter);
    scanRange(this.kernel, this.chunks, queries, tops, 0, this.size, allowed);
    return tops.map((top) => hitsFrom(top, this.metric));
  }
}
