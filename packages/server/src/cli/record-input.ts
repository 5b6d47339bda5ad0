/**
 * Input files for `longbow put` as a stream of record batches: Arrow IPC (file or stream
 * format), Parquet, CSV, JSON lines, or a JSON array of objects. Each batch carries the input
 * position after it, so progress can follow what the server acknowledged.
 */
import { openAsBlob } from 'node:fs';
import type { Readable } from 'node:stream';
import {
  DataType, Field, FixedSizeList, RecordBatch, RecordBatchReader, Schema, Struct, makeData, tableFromIPC, vectorFromArray,
  type Data, type Float32, type LargeList, type List,
} from 'apache-arrow';
import { VECTOR_COLUMN_NAMES, batchFromRows, type ColumnTypeName, type Metric } from '@longbow/client';
import { CsvParser } from './csv.ts';
import { onParquetPanic } from './parquet-panic.ts';
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

/**
 * Parquet (parquet-wasm: the Rust arrow and parquet crates in WebAssembly). A file is read where
 * it lies, through a file-backed Blob; the library decodes one row group at a time (its pages
 * and decoded batches in WebAssembly memory) and hands out batches of `batchRows`. Standard
 * input is gathered first, since Parquet's index is at the end. The file's schema metadata (a
 * dataset's `longbow.metric`, say) is kept on every batch. Progress is the share of rows sent.
 */
async function* readParquet(open: () => Readable, options: ReadOptions): AsyncGenerator<InputBatch> {
  let blob: Blob;
  if (options.path !== undefined) {
    blob = await openAsBlob(options.path);
  } else {
    const chunks: Buffer[] = [];
    for await (const chunk of open()) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk as Buffer);
    blob = new Blob(chunks as unknown as BlobPart[]);
  }
  const { ParquetFile } = await import('parquet-wasm'); // ~5 MB of WebAssembly: loaded only for Parquet
  const unreadable = (error: unknown) => new TypeError(`${options.name}: not a readable Parquet file (${error instanceof Error ? error.message : String(error)})`);
  const removeHandler = onParquetPanic(options.name);
  try {
    let file;
    try {
      file = await ParquetFile.fromFile(blob);
    } catch (error) {
      throw unreadable(error);
    }
    try {
      const fileSchema = tableFromIPC(file.schema().intoIPCStream()).schema;
      let rowsTotal = 0;
      const metadata = file.metadata();
      try {
        for (const group of metadata.rowGroups()) {
          rowsTotal += group.numRows();
          group.free();
        }
      } finally {
        metadata.free();
      }
      let stream: ReadableStream<{ intoIPCStream(): Uint8Array }>;
      try {
        stream = await file.stream({ batchSize: options.batchRows });
      } catch (error) {
        throw unreadable(error);
      }
      const vectors = new VectorShape(options.name, options.schema);
      // Batches whose vectors are all null while no row has told the dimension wait for one that does.
      const waiting: { batch: RecordBatch; rowsBefore: number }[] = [];
      let rowsDone = 0;
      const bytesEnd = () => Math.round(blob.size * (rowsTotal === 0 ? 1 : rowsDone / rowsTotal));
      for await (const wasmBatch of stream) {
        for (const read of tableFromIPC(wasmBatch.intoIPCStream()).batches) {
          if (read.numRows === 0) continue;
          const batch = new RecordBatch(new Schema(read.schema.fields, fileSchema.metadata), read.data);
          const rowsBefore = rowsDone;
          rowsDone += batch.numRows;
          if (!vectors.learn(batch, rowsBefore)) {
            waiting.push({ batch, rowsBefore });
            continue;
          }
          for (const held of waiting.splice(0)) yield { batch: vectors.fix(held.batch, held.rowsBefore), bytesEnd: bytesEnd() };
          yield { batch: vectors.fix(batch, rowsBefore), bytesEnd: bytesEnd() };
        }
      }
      if (waiting.length > 0) throw new TypeError(`${options.name}: ${vectors.undecided()}`);
      if (rowsDone === 0) yield { batch: emptyBatch(fileSchema), bytesEnd: blob.size }; // creates the dataset with its schema
    } finally {
      file.free();
    }
  } finally {
    removeHandler();
  }
}

/** A batch of no rows with `schema` (nested types get their children, as builders make them). */
export function emptyBatch(schema: Schema): RecordBatch {
  const children = schema.fields.map((field) => vectorFromArray([], field.type).data[0]);
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: 0, nullCount: 0, children }));
}

/** Element types a vector column may have (what the server stores). */
function isVectorElement(type: DataType): boolean {
  return DataType.isFloat(type) || (DataType.isInt(type) && type.bitWidth === 8);
}

/**
 * Parquet has no fixed-size list: a vector column written by anything but Arrow (Spark, DuckDB,
 * pandas, Polars) arrives as a List or LargeList. The vector column is the first column named
 * `vector` or `embedding`, as for the server; when it is a list of numbers whose rows all hold
 * the same number of values, it becomes the FixedSizeList the server stores (the values are not
 * copied unless rows are null: a null row gets a slot of zeros and stays null). One dimension
 * holds across batches, and is the dataset's when it has this column; rows of another length,
 * empty vectors and null values inside a vector are refused, naming the first such row.
 */
export class VectorShape {
  private dimensions: number | undefined;
  private column: string | undefined;

  constructor(private readonly name: string, private readonly dataset?: Schema) {}

  /** The batch's vector column, when it is a list of numbers this class converts. */
  private listColumn(batch: RecordBatch): number | undefined {
    const index = batch.schema.fields.findIndex((field) => VECTOR_COLUMN_NAMES.includes(field.name));
    if (index < 0) return undefined;
    const field = batch.schema.fields[index];
    this.column = field.name;
    if (this.dimensions === undefined) {
      const known = this.dataset?.fields.find((candidate) => candidate.name === field.name)?.type ?? field.type;
      if (DataType.isFixedSizeList(known)) this.dimensions = known.listSize;
    }
    const type = field.type;
    if (!(DataType.isList(type) || DataType.isLargeList(type)) || !isVectorElement(type.children[0].type)) return undefined;
    return index;
  }

  /**
   * Checks the batch's vector lengths and learns the dimension from its first non-null row;
   * false when the dimension is still unknown (every vector so far null), so the batch must wait.
   */
  learn(batch: RecordBatch, rowsBefore = 0): boolean {
    const index = this.listColumn(batch);
    if (index === undefined) return true;
    const data = batch.data.children[index] as Data<List | LargeList>;
    const offsets = data.valueOffsets;
    for (let row = 0; row < data.length; row++) {
      if (!data.getValid(row)) continue;
      const size = Number(offsets[row + 1]) - Number(offsets[row]);
      const where = `${this.name}: column "${this.column}", row ${rowsBefore + row + 1}`;
      if (size === 0) throw new TypeError(`${where}: an empty vector`);
      this.dimensions ??= size;
      if (size !== this.dimensions) throw new TypeError(`${where}: ${size} values where the vectors have ${this.dimensions}; a vector column needs one length`);
    }
    return this.dimensions !== undefined;
  }

  /** Why waiting batches could not be sent. */
  undecided(): string {
    return `column "${this.column}" holds only null vectors, so nothing tells their dimension`;
  }

  /** The batch with its vector column as a FixedSizeList (call learn() first). */
  fix(batch: RecordBatch, rowsBefore = 0): RecordBatch {
    const index = this.listColumn(batch);
    const dimensions = this.dimensions;
    if (index === undefined || dimensions === undefined || batch.numRows === 0) return batch;
    const field = batch.schema.fields[index];
    const data = batch.data.children[index] as Data<List | LargeList>;
    const offsets = data.valueOffsets;
    const child = data.children[0];
    if (child.nullCount > 0) {
      for (let row = 0; row < data.length; row++) {
        if (!data.getValid(row)) continue;
        for (let i = Number(offsets[row]); i < Number(offsets[row + 1]); i++) {
          if (!child.getValid(i)) throw new TypeError(`${this.name}: column "${field.name}", row ${rowsBefore + row + 1}: a null value inside a vector`);
        }
      }
    }
    let values: Data;
    let nullBitmap: Uint8Array | undefined;
    if (data.nullCount === 0) {
      values = child.slice(Number(offsets[0]), data.length * dimensions);
    } else {
      // A null row holds no values, but a fixed-size list keeps its slot: the values are copied
      // with zeros there, and the rows' validity carried over.
      const source = child.values as Float32Array;
      const out = new (source.constructor as new (length: number) => Float32Array)(data.length * dimensions);
      nullBitmap = new Uint8Array(Math.ceil(data.length / 8));
      for (let row = 0; row < data.length; row++) {
        if (!data.getValid(row)) continue;
        nullBitmap[row >> 3] |= 1 << (row & 7);
        out.set(source.subarray(Number(offsets[row]), Number(offsets[row]) + dimensions), row * dimensions);
      }
      values = makeData({ type: child.type as Float32, length: out.length, nullCount: 0, data: out });
    }
    const type = new FixedSizeList(dimensions, new Field('item', values.type, true)); // nullable, as pyarrow and vectorType() make it
    const vectors = makeData({ type, length: data.length, nullCount: data.nullCount, nullBitmap, child: values });
    const fields = batch.schema.fields.map((each, i) => (i === index ? new Field(field.name, type, field.nullable, field.metadata) : each));
    const schema = new Schema(fields, batch.schema.metadata);
    const children = batch.data.children.map((each, i) => (i === index ? vectors : each));
    return new RecordBatch(schema, makeData({ type: new Struct(fields), length: batch.numRows, nullCount: 0, children }));
  }
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
