/**
 * Input files for `longbow put` as a stream of record batches: Arrow IPC (file or stream
 * format), Parquet, CSV, JSON lines, or a JSON array of objects. Each batch carries the input
 * position after it, so progress can follow what the server acknowledged.
 */
import type { Readable } from 'node:stream';
import { RecordBatchReader, type RecordBatch, type Schema } from 'apache-arrow';
import { batchFromRows, type ColumnTypeName, type Metric } from '@longbow/client';
import { CsvParser } from './csv.ts';
import { readParquet } from './parquet.ts';
import { csvColumns, csvRows, type CsvColumns } from './csv-values.ts';

export const INPUT_FORMATS = ['arrow', 'parquet', 'csv', 'tsv', 'jsonl', 'json'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

export function inputFormatOfPath(path: string): InputFormat | undefined {
  const lower = path.toLowerCase();
  if (/\.(arrow|arrows|ipc|feather)$/.test(lower)) return 'arrow';
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.tsv')) return 'tsv';
  if (/\.(jsonl|ndjson)$/.test(lower)) return 'jsonl';
  if (lower.endsWith('.json')) return 'json';
  if (/\.(parquet|pq)$/.test(lower)) return 'parquet';
  return undefined;
}

export interface InputBatch {
  batch: RecordBatch;
  /** Input bytes read once this batch was complete. */
  bytesEnd: number;
}

export interface ReadOptions {
  format: InputFormat;
  /** Rows per batch for CSV, JSON and Parquet input (Arrow batches are sent as they are in the file). */
  batchRows: number;
  /** The dataset's schema when it exists: text input is typed to it. */
  schema?: Schema;
  types: Readonly<Record<string, ColumnTypeName>>;
  metric?: Metric;
  /** For messages: the file name. */
  name: string;
  /** The file's path, when the input is a file (Parquet is read from it by row group, not as a stream). */
  path?: string;
}

/** Counts the bytes of a stream as they are read. */
class CountingSource {
  bytes = 0;
  constructor(private readonly stream: Readable) {}

  async *chunks(): AsyncGenerator<Buffer> {
    for await (const chunk of this.stream) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk as Buffer;
      this.bytes += buffer.byteLength;
      yield buffer;
    }
  }

  async *text(): AsyncGenerator<string> {
    const decoder = new TextDecoder('utf-8', { fatal: true });
    for await (const chunk of this.chunks()) yield decoder.decode(chunk, { stream: true });
    const rest = decoder.decode();
    if (rest) yield rest;
  }
}

/** Builds batches of rows, typing the first to infer the schema and the rest to that schema. */
class RowBatcher {
  private schema: Schema | undefined;
  private rowsBefore = 0;

  constructor(private readonly options: ReadOptions) {
    this.schema = options.schema;
  }

  build(rows: readonly Record<string, unknown>[]): RecordBatch {
    try {
      const batch = this.schema
        ? batchFromRows(rows, { schema: this.schema })
        : batchFromRows(rows, { types: this.options.types, metric: this.options.metric });
      this.schema = batch.schema;
      return batch;
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      const message = error.message.replace(/\brow (\d+)/, (_, row: string) => `row ${this.rowsBefore + Number(row) + 1}`);
      throw new TypeError(`${this.options.name}: ${message}`);
    } finally {
      this.rowsBefore += rows.length;
    }
  }
}

async function* readArrow(source: CountingSource): AsyncGenerator<InputBatch> {
  const reader = await RecordBatchReader.from(source.chunks());
  for await (const batch of reader) yield { batch, bytesEnd: source.bytes };
}

async function* readCsv(source: CountingSource, options: ReadOptions, delimiter: string): AsyncGenerator<InputBatch> {
  const parser = new CsvParser(delimiter);
  const batcher = new RowBatcher(options);
  let header: string[] | undefined;
  let columns: CsvColumns | undefined;
  let pending: string[][] = [];
  let rowsDone = 0;
  const flush = (): RecordBatch => {
    columns ??= csvColumns(header!, pending, options.schema, options.types);
    let rows;
    try {
      rows = csvRows(columns, pending, rowsDone + 1);
    } catch (error) {
      throw error instanceof TypeError ? new TypeError(`${options.name}: ${error.message}`) : error;
    }
    rowsDone += pending.length;
    pending = [];
    return batcher.build(rows);
  };
  const take = (records: string[][]) => {
    for (const record of records) {
      if (header === undefined) header = record;
      else pending.push(record);
    }
  };
  for await (const text of source.text()) {
    take(parser.push(text));
    while (pending.length >= options.batchRows) {
      const rest = pending.splice(options.batchRows);
      yield { batch: flush(), bytesEnd: source.bytes };
      pending = rest;
    }
  }
  take(parser.end());
  if (header === undefined) throw new TypeError(`${options.name}: empty CSV (no header line)`);
  if (pending.length > 0 || rowsDone === 0) yield { batch: flush(), bytesEnd: source.bytes };
}

async function* readJsonLines(texts: AsyncIterable<string> | Iterable<string>, bytesRead: () => number, options: ReadOptions): AsyncGenerator<InputBatch> {
  const batcher = new RowBatcher(options);
  let carry = '';
  let line = 0;
  let pending: Record<string, unknown>[] = [];
  const parseLine = (text: string) => {
    line++;
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new TypeError(`${options.name}: line ${line}: bad JSON (${(error as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new TypeError(`${options.name}: line ${line}: expected a JSON object`);
    }
    pending.push(value as Record<string, unknown>);
  };
  for await (const text of texts) {
    const lines = (carry + text).split('\n');
    carry = lines.pop()!;
    for (const item of lines) parseLine(item);
    while (pending.length >= options.batchRows) {
      const rows = pending.splice(0, options.batchRows);
      yield { batch: batcher.build(rows), bytesEnd: bytesRead() };
    }
  }
  parseLine(carry);
  if (pending.length > 0) yield { batch: batcher.build(pending), bytesEnd: bytesRead() };
}

/** A JSON array of objects (read whole), or JSON lines in a `.json` file. */
async function* readJson(source: CountingSource, options: ReadOptions): AsyncGenerator<InputBatch> {
  let text = '';
  for await (const chunk of source.text()) text += chunk;
  const trimmed = text.trimStart();
  if (!trimmed.startsWith('[')) {
    yield* readJsonLines([text], () => source.bytes, options);
    return;
  }
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch (error) {
    throw new TypeError(`${options.name}: bad JSON (${(error as Error).message})`);
  }
  if (!Array.isArray(value)) throw new TypeError(`${options.name}: expected a JSON array of objects`);
  const batcher = new RowBatcher(options);
  for (let start = 0; start < value.length; start += options.batchRows) {
    const rows = value.slice(start, start + options.batchRows) as Record<string, unknown>[];
    if (rows.some((row) => typeof row !== 'object' || row === null || Array.isArray(row))) {
      throw new TypeError(`${options.name}: expected a JSON array of objects`);
    }
    yield { batch: batcher.build(rows), bytesEnd: Math.round(source.bytes * ((start + rows.length) / value.length)) };
  }
}

/** The batches of one input; `open` gives its bytes as a stream (not called for a Parquet file with a path). */
export function readBatches(open: () => Readable, options: ReadOptions): AsyncGenerator<InputBatch> {
  if (options.format === 'parquet') return readParquet(open, options);
  const source = new CountingSource(open());
  switch (options.format) {
    case 'arrow': return readArrow(source);
    case 'csv': return readCsv(source, options, ',');
    case 'tsv': return readCsv(source, options, '\t');
    case 'jsonl': return readJsonLines(source.text(), () => source.bytes, options);
    case 'json': return readJson(source, options);
  }
}
