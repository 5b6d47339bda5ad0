/**
 * The one interface of the vector indexes: FlatIndex (exact, the ground truth) and HnswIndex
 * (approximate, usearch). Both label rows by ordinal (0-based position of the row in its
 * dataset, counting every row ever appended) and share one test suite.
 */
import type { Metric } from './metric.ts';

/** Search results, best first: `distances[i]` belongs to `ordinals[i]` (see metric.ts). */
export interface SearchHits {
  ordinals: number[];
  distances: number[];
}

export interface IndexSearchOptions {
  /** HNSW candidate list size for this search (the index default when absent; ignored by flat). */
  ef?: number;
  /** Only rows for which this returns true may match (deleted rows, filters). */
  filter?: (ordinal: number) => boolean;
}

export interface VectorIndex {
  readonly dimensions: number;
  readonly metric: Metric;
  /** Rows added (ordinals 0 .. size-1), removed ones included. */
  readonly size: number;
  /** Bytes the index itself holds (not the vectors it only references). */
  readonly memoryBytes: number;
  /** Adds rows `firstOrdinal ..` from `vectors` (rows x dimensions, row-major). */
  add(firstOrdinal: number, vectors: Float32Array): void;
  /** The row never matches again. */
  remove(ordinal: number): void;
  /** The k nearest rows to `query` (fewer when fewer rows may match). */
  search(query: Float32Array, k: number, options?: IndexSearchOptions): SearchHits;
  /** `search` for each of `queries` (count x dimensions, row-major). */
  searchBatch(queries: Float32Array, k: number, options?: IndexSearchOptions): SearchHits[];
}
