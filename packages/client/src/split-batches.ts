/**
 * Bounded batches for DoPut: a batch larger than the bound is sent as row slices of about the
 * bound each (slices share the batch's memory; the encoder copies only what it sends).
 */
import type { Data, RecordBatch } from 'apache-arrow';

/** Bytes of the buffers a column's data holds (validity, offsets, values, children, dictionary). */
function dataBytes(data: Data): number {
  let bytes = (data.nullBitmap?.byteLength ?? 0) + (data.valueOffsets?.byteLength ?? 0) + (data.values?.byteLength ?? 0);
  for (const child of data.children) bytes += dataBytes(child);
  if (data.dictionary) for (const chunk of data.dictionary.data) bytes += dataBytes(chunk);
  return bytes;
}

/** In-memory bytes of a batch (for a slice: of the buffers it views, prorated by rows). */
export function batchBytes(batch: RecordBatch): number {
  return dataBytes(batch.data);
}

/** `batch` as it is when it fits `bytesMax`, else as consecutive row slices of at most about `bytesMax` each. */
export function* splitBatch(batch: RecordBatch, bytesMax: number): Generator<RecordBatch> {
  const bytes = batchBytes(batch);
  const rows = batch.numRows;
  if (bytes <= bytesMax || rows <= 1) {
    yield batch;
    return;
  }
  const slices = Math.ceil(bytes / bytesMax);
  const rowsPerSlice = Math.max(1, Math.ceil(rows / slices));
  for (let start = 0; start < rows; start += rowsPerSlice) yield batch.slice(start, Math.min(rows, start + rowsPerSlice));
}
