/**
 * What the server answers, as types. Action replies keep the server's JSON field names
 * (snake_case, as docs/protocol.md lists them); a newer server may add fields.
 */
import type { DataType, Schema } from 'apache-arrow';
import type { Metric } from './record-batch-builder.ts';

/** A dataset as ListFlights and GetFlightInfo describe it. */
export interface DatasetInfo {
  name: string;
  /** Rows stored. */
  rows: number;
  /** Bytes of the dataset's Arrow buffers in server memory. */
  bytes: number;
  schema: Schema;
  /** `longbow.metric` of the schema (euclidean when absent). */
  metric: Metric;
  /** The vector column (`vector` or `embedding`), when the dataset has one. */
  vector?: { column: string; dimensions: number; type: DataType };
}

export interface DatasetStats {
  name: string;
  rows: number;
  bytes: number;
  batches: number;
  columns: number;
  [field: string]: unknown;
}

/** `get_stats`. */
export interface ServerStats {
  current_memory: number;
  max_memory: number;
  datasets: number;
  total_rows?: number;
  total_batches?: number;
  uptime_seconds?: number;
  dataset_stats?: DatasetStats[];
  [field: string]: unknown;
}

/** `force_snapshot`. */
export interface SnapshotReply {
  status: 'ok';
  message: string;
  id?: string | number;
  seq?: number;
  bytes?: number;
  datasets?: number;
  rows?: number;
  duration_ms?: number;
  [field: string]: unknown;
}

/** `drop_dataset`. */
export interface DropReply {
  status: 'ok';
  message: string;
  [field: string]: unknown;
}

/** `delete`. */
export interface DeleteReply {
  status: 'ok';
  dataset?: string;
  /** Rows deleted. */
  deleted: number;
  /** Ids that matched no row. */
  not_found?: number;
  /** Write-ahead log sequence number of the delete. */
  seq?: number;
  [field: string]: unknown;
}

export type ReadinessStatus = 'READY' | 'INDEXING' | 'NOT_FOUND';

/** `check_readiness`. */
export interface Readiness {
  status: ReadinessStatus;
  dataset?: string;
  rows: number;
  /** Rows the vector index holds; READY means searches use the index for every row. */
  indexed: number;
  [field: string]: unknown;
}

/** The server's acknowledgement of one stored batch (PutResult app_metadata). */
export interface PutAck {
  dataset: string;
  rows: number;
  total_rows: number;
  seq: number;
}
