/** Messages between DatasetIndex (main thread) and the HNSW worker (hnsw-worker.ts). */
import type { HnswOptions } from './hnsw-index.ts';

export interface GraphFile {
  /** The usearch file. */
  path: string;
  /** Ordinals the file covers (from its metadata). */
  rows: number;
  /** Ordinals to keep: rows at or past this are removed after loading (not in the snapshot). */
  keepRows: number;
  /** Expected length and CRC32C of the file (checked before loading). */
  bytes: number;
  crc32c: number;
}

export type ToWorker =
  | { type: 'open'; options: HnswOptions; file?: GraphFile }
  /** Rows to insert; `vectors` is transferred. Rows already removed hold NaN. */
  | { type: 'add'; firstOrdinal: number; vectors: Float32Array }
  | { type: 'remove'; ordinals: number[] }
  | { type: 'search'; id: number; queries: Float32Array; wanted: number; ef: number; threads: number }
  | { type: 'save'; id: number; path: string };

export interface GraphState {
  /** Ordinals the graph covers (inserted, skipped as non-finite, or removed). */
  rows: number;
  /** Vectors in the graph. */
  count: number;
  memoryBytes: number;
}

export type FromWorker =
  | ({ type: 'opened'; loadError?: string } & GraphState)
  /** One `add` message fully inserted. */
  | ({ type: 'added' } & GraphState)
  | {
    type: 'found'; id: number; wanted: number; ordinals: Float64Array; distances: Float32Array; counts: Uint32Array;
    /** Rows the graph covered when it searched: the caller scans the rest exactly. */
    indexedRows: number;
  }
  | { type: 'saved'; id: number; rows: number; bytes: number; crc32c: number }
  | { type: 'failed'; id?: number; message: string };
