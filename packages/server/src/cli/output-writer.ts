/**
 * Writes query results in the CLI's output formats: a table for the terminal, CSV, JSON lines,
 * Arrow IPC (the stream format, or the file format for `-o *.arrow`), or Parquet.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RecordBatchFileWriter, RecordBatchStreamWriter, type RecordBatch, type Schema } from 'apache-arrow';
import { csvText, jsonText, jsonValue, type JsonValue } from './cell-format.ts';
import { csvLine } from './csv.ts';
import { writeParquet } from './parquet.ts';
import { renderTable } from './table-printer.ts';

export const OUTPUT_FORMATS = ['table', 'csv', 'jsonl', 'arrow', 'parquet'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The format a file name asks for, by extension. */
export function outputFormatOfPath(path: string): OutputFormat | undefined {
  const lower = path.toLowerCase();
  if (/\.(arrow|arrows|ipc|feather)$/.test(lower)) return 'arrow';
  if (lower.endsWith('.csv')) return 'csv';
  if (/\.(jsonl|ndjson|json)$/.test(lower)) return 'jsonl';
  if (/\.(txt|table)$/.test(lower)) return 'table';
  if (/\.(parquet|pq)$/.test(lower)) return 'parquet';
  return undefined;
}

export interface Results {
  batches: AsyncIterable<RecordBatch>;
  /** The schema once known (after the first message), for results without rows. */
  schema(): Schema | null;
}

async function write(out: Writable, text: string | Uint8Array): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

async function writeCsv(results: Results, out: Writable): Promise<number> {
  let header = false;
  let rows = 0;
  const writeHeader = async (schema: Schema) => {
    header = true;
    await write(out, csvLine(schema.fields.map((field) => field.name)));
  };
  for await (const batch of results.batches) {
    if (!header) await writeHeader(batch.schema);
    const columns = batch.schema.fields.map((field, index) => ({ type: field.type, vector: batch.getChildAt(index)! }));
    let chunk = '';
    for (let row = 0; row < batch.numRows; row++) {
      chunk += csvLine(columns.map(({ type, vector }) => csvText(vector.get(row), type)));
      if (chunk.length > 1 << 16) {
        await write(out, chunk);
        chunk = '';
      }
    }
    if (chunk) await write(out, chunk);
    rows += batch.numRows;
  }
  const schema = results.schema();
  if (!header && schema) await writeHeader(schema);
  return rows;
}

async function writeJsonLines(results: Results, out: Writable): Promise<number> {
  let rows = 0;
  for await (const batch of results.batches) {
    const columns = batch.schema.fields.map((field, index) => ({ name: field.name, type: field.type, vector: batch.getChildAt(index)! }));
    let chunk = '';
    for (let row = 0; row < batch.numRows; row++) {
      const object: Record<string, JsonValue> = {};
      for (const { name, type, vector } of columns) object[name] = jsonValue(vector.get(row), type);
      chunk += `${jsonText(object)}\n`;
      if (chunk.length > 1 << 16) {
        await write(out, chunk);
        chunk = '';
      }
    }
    if (chunk) await write(out, chunk);
    rows += batch.numRows;
  }
  return rows;
}

async function writeArrow(results: Results, out: Writable, fileFormat: boolean): Promise<number> {
  const writer = fileFormat ? new RecordBatchFileWriter() : new RecordBatchStreamWriter();
  const done = pipeline(writer.toNodeStream(), out, { end: false });
  let rows = 0;
  let wrote = false;
  try {
    for await (const batch of results.batches) {
      writer.write(batch);
      wrote = true;
      rows += batch.numRows;
    }
    const schema = results.schema();
    if (!wrote && schema) writer.reset(undefined, schema);
  } finally {
    writer.finish();
  }
  await done;
  return rows;
}

async function writeTable(results: Results, out: Writable, rowsMax: number | undefined): Promise<{ rows: number; more: boolean }> {
  const batches: RecordBatch[] = [];
  let rows = 0;
  let more = false;
  for await (const batch of results.batches) {
    const room = rowsMax === undefined ? batch.numRows : rowsMax - rows;
    if (batch.numRows > room) {
      more = true;
      if (room > 0) batches.push(batch.slice(0, room));
      rows += Math.max(0, room);
      break;
    }
    batches.push(batch);
    rows += batch.numRows;
  }
  const schema = batches[0]?.schema ?? results.schema();
  if (schema) await write(out, renderTable(schema, batches));
  return { rows, more };
}

export interface WriteOptions {
  format: OutputFormat;
  /** Arrow only: the IPC file format instead of the stream format. */
  arrowFile?: boolean;
  /** Table only: print at most this many rows; `more` says whether there were more. */
  tableRowsMax?: number;
}

/** Writes every result; returns the rows written and, for tables, whether rows were left out. */
export async function writeResults(results: Results, out: Writable, options: WriteOptions): Promise<{ rows: number; more: boolean }> {
  switch (options.format) {
    case 'csv': return { rows: await writeCsv(results, out), more: false };
    case 'jsonl': return { rows: await writeJsonLines(results, out), more: false };
    case 'arrow': return { rows: await writeArrow(results, out, options.arrowFile ?? false), more: false };
    case 'parquet': return { rows: await writeParquet(results, out, write), more: false };
    case 'table': return writeTable(results, out, options.tableRowsMax);
  }
}
