/**
 * @longbow/client: the typed TypeScript client of Longbow.
 *
 *   const lb = await Longbow.connect('grpc://localhost:3000');
 *   await lb.put('docs', { ids, vectors, label });
 *   const hits = await lb.search('docs', query, { k: 10 });
 *
 * See docs/client.md.
 */
export { Longbow, datasetInfo } from './longbow.ts';
export type { ConnectOptions, GetOptions, ListOptions, PutOptions, WaitOptions } from './longbow.ts';
export { LongbowError, GrpcStatus } from './longbow-error.ts';
export { QueryResult } from './query-result.ts';
export type { PutProgress, PutSummary } from './put-stream.ts';
export { PUT_BATCH_BYTES_MAX_DEFAULT } from './put-stream.ts';
export type { PutData, Row, VectorColumns, InputOptions } from './put-input.ts';
export type { SearchOptions, SearchManyOptions, QueryVector, QueryVectors } from './search.ts';
export { parseFilterExpression } from './filters.ts';
export type { Filter, FilterOp, FilterValue, Filters } from './filters.ts';
export { batchFromColumns, batchFromRows, METRIC_METADATA_KEY } from './record-batch-builder.ts';
export type { BuildOptions, ColumnValues, Metric } from './record-batch-builder.ts';
export { inferField, inferType, vectorType, COLUMN_TYPE_NAMES, VECTOR_COLUMN_NAMES } from './infer-type.ts';
export type { ColumnTypeName } from './infer-type.ts';
export { splitBatch, batchBytes } from './split-batches.ts';
export { toJson } from './json.ts';
export { configureConcurrentMarking, mallocHugePages, type ConcurrentMarkingSetting, type MallocHugePages } from '@longbow/flight';
export type {
  DatasetInfo, DatasetStats, DeleteReply, DropReply, PutAck, Readiness, ReadinessStatus, ServerStats, SnapshotReply,
} from './replies.ts';
