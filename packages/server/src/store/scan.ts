/**
 * Reading a dataset: optional filters, column projection and row limit, streamed as batches
 * of bounded size (SCAN_BATCH_BYTES_TARGET) so large results never build up in memory.
 * Deleted rows are left out; the scan reads the dataset's view as it was when it was planned.
 */
import { RecordBatch, Schema, Struct, makeData } from 'apache-arrow';
import { compileFilters, selectRows, type Filter } from './filters.ts';
import { gatherBatch } from './gather.ts';
import { batchBytes } from './memory.ts';
import { withSchema, type Dataset } from './dataset.ts';
import { withoutDeletedRows } from './dataset-rows.ts';
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

/**
 * Splits a batch into slices of about SCAN_BATCH_BYTES_TARGET bytes (slices are views), each
 * with the row of the batch it starts at.
 */
function* bounded(batch: RecordBatch): Generator<{ slice: RecordBatch; start: number }> {
  const bytes = batchBytes(batch);
  // A stored batch a little over the target is sent whole: splitting it would double the
  // messages for nothing.
  if (bytes <= SCAN_BATCH_BYTES_TARGET * 1.5 || batch.numRows <= 1) {
    yield { slice: batch, start: 0 };
    return;
  }
  const rowsPerSlice = Math.max(1, Math.floor(batch.numRows * SCAN_BATCH_BYTES_TARGET / bytes));
  for (let start = 0; start < batch.numRows; start += rowsPerSlice) yield { slice: batch.slice(start, start + rowsPerSlice), start };
}

/** Validates the request against the dataset (errors before any data is sent) and plans the scan. */
export function planScan(dataset: Dataset, request: ScanRequest): ScanPlan {
  const fullSchema = dataset.schema;
  const compiled = compileFilters(request.filters, fullSchema);
  const projection = projectionOf(fullSchema, request.columns);
  const schema = projection === undefined ? fullSchema
    : new Schema(projection.map((index) => fullSchema.fields[index]), fullSchema.metadata);
  const view = dataset.rowsView;
  const limit = request.limit ?? Number.POSITIVE_INFINITY;

  function* batches(): Generator<RecordBatch> {
    let remaining = limit;
    for (const [index, stored] of view.batches.entries()) {
      if (remaining <= 0) return;
      const batch = withSchema(stored, fullSchema);
      const deleted = view.deletedBitmaps[index];
      for (const { slice, start } of bounded(batch)) {
        if (remaining <= 0) return;
        let rows = selectRows(slice, compiled);
        if (deleted !== undefined) rows = withoutDeletedRows(rows, slice.numRows, deleted, start);
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
