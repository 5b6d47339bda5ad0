/**
 * Reading a dataset: optional filters, column projection and row limit, streamed as batches
 * of bounded size (SCAN_BATCH_BYTES_TARGET) so large results never build up in memory.
 */
import { RecordBatch, Schema, Struct, makeData } from 'apache-arrow';
import { compileFilters, selectRows, type Filter } from './filters.ts';
import { gatherBatch } from './gather.ts';
import { batchBytes } from './memory.ts';
import { withSchema, type Dataset } from './dataset.ts';
import { longbowError } from '../errors.ts';
import { SCAN_BATCH_BYTES_TARGET } from '../limits.ts';

export interface ScanRequest {
  filters: Filter[];
  columns?: string[];
  limit?: number;
}

export interface ScanPlan {
  schema: Schema;
  batches: Generator<RecordBatch>;
}

function projectionOf(schema: Schema, columns: string[] | undefined): number[] | undefined {
  if (columns === undefined) return undefined;
  return columns.map((name) => {
    const index = schema.fields.findIndex((field) => field.name === name);
    if (index < 0) throw longbowError('UNKNOWN_COLUMN', `"${name}" (the dataset has ${schema.fields.map((f) => f.name).join(', ')})`);
    return index;
  });
}

function project(batch: RecordBatch, schema: Schema, projection: number[] | undefined): RecordBatch {
  if (projection === undefined) return batch;
  const children = projection.map((index) => batch.data.children[index]);
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: batch.numRows, nullCount: 0, children }));
}

/** Splits a batch into slices of about SCAN_BATCH_BYTES_TARGET bytes (slices are views). */
function* bounded(batch: RecordBatch): Generator<RecordBatch> {
  const bytes = batchBytes(batch);
  // A stored batch a little over the target is sent whole: splitting it would double the
  // messages for nothing.
  if (bytes <= SCAN_BATCH_BYTES_TARGET * 1.5 || batch.numRows <= 1) {
    yield batch;
    return;
  }
  const rowsPerSlice = Math.max(1, Math.floor(batch.numRows * SCAN_BATCH_BYTES_TARGET / bytes));
  for (let start = 0; start < batch.numRows; start += rowsPerSlice) yield batch.slice(start, start + rowsPerSlice);
}

/** Validates the request against the dataset (errors before any data is sent) and plans the scan. */
export function planScan(dataset: Dataset, request: ScanRequest): ScanPlan {
  const fullSchema = dataset.schema;
  const compiled = compileFilters(request.filters, fullSchema);
  const projection = projectionOf(fullSchema, request.columns);
  const schema = projection === undefined ? fullSchema
    : new Schema(projection.map((index) => fullSchema.fields[index]), fullSchema.metadata);
  const snapshot = dataset.batches;
  const limit = request.limit ?? Number.POSITIVE_INFINITY;

  function* batches(): Generator<RecordBatch> {
    let remaining = limit;
    for (const stored of snapshot) {
      if (remaining <= 0) return;
      const batch = withSchema(stored, fullSchema);
      for (const slice of bounded(batch)) {
        if (remaining <= 0) return;
        const rows = selectRows(slice, compiled);
        let selected = rows === undefined ? slice : gatherBatch(slice, rows);
        if (selected.numRows === 0) continue;
        if (selected.numRows > remaining) selected = selected.slice(0, remaining);
        remaining -= selected.numRows;
        yield project(selected, schema, projection);
      }
    }
  }
  return { schema, batches: batches() };
}
