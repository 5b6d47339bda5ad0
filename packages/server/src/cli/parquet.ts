/**
 * Parquet for the CLI, through parquet-wasm (the Rust arrow and parquet crates compiled to
 * WebAssembly, loaded only when Parquet is involved): `longbow put` reads it (readParquet, with
 * VectorShape turning list embeddings into vector columns), `longbow get`/`search` write it
 * (writeParquet). What the library does not do for us is here too: keeping the file's schema
 * metadata, reporting failures on both sides of its writer, and its panics.
 */
import { openAsBlob } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import {
  DataType, Field, FixedSizeList, RecordBatch, Schema, Struct, Table, makeData, tableFromIPC, tableToIPC, util, vectorFromArray,
  type Data, type Float32, type LargeList, type List,
} from 'apache-arrow';
import { VECTOR_COLUMN_NAMES } from '@longbow/client';
import type { Results } from './output-writer.ts';
import type { InputBatch, ReadOptions } from './record-input.ts';

/**
 * While Parquet is read or written. parquet-wasm does not reject its promises when its Rust code
 * panics (a corrupt page, WebAssembly's 4 GiB memory exhausted): the panic is a WebAssembly trap
 * (`RuntimeError: unreachable`) thrown outside any caller, and the promise never settles. The CLI
 * then says what failed and exits 1 instead of printing a WebAssembly stack. Any other uncaught
 * error is reported as Node would (its stack, exit 1). Returns the function that removes the
 * handler.
 */
function onParquetPanic(what: string): () => void {
  const handler = (error: unknown) => {
    if (error instanceof WebAssembly.RuntimeError) {
      process.stderr.write(`longbow: ${what}: the Parquet library aborted (WebAssembly trap: ${error.message}); `
        + 'a corrupt file, or more data at once than WebAssembly\'s 4 GiB memory holds (write smaller row groups)\n');
    } else {
      process.stderr.write(`${error instanceof Error ? error.stack ?? String(error) : String(error)}\n`);
    }
    process.exit(1);
  };
  process.on('uncaughtException', handler);
  return () => { process.off('uncaughtException', handler); };
}

/**
 * Parquet (parquet-wasm: the Rust arrow and parquet crates in WebAssembly). A file is read where
 * it lies, through a file-backed Blob; the library decodes one row group at a time (its pages
 * and decoded batches in WebAssembly memory) and hands out batches of `batchRows`. Standard
 * input is gathered first, since Parquet's index is at the end. The file's schema metadata (a
 * dataset's `longbow.metric`, say) is kept on every batch. Progress is the share of rows sent.
 */
export async function* readParquet(open: () => Readable, options: ReadOptions): AsyncGenerator<InputBatch> {
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
      let schema: Schema | undefined; // the batches' fields with the file's metadata (the library drops it)
      for await (const wasmBatch of stream) {
        for (const read of tableFromIPC(wasmBatch.intoIPCStream()).batches) {
          if (read.numRows === 0) continue;
          schema ??= new Schema(read.schema.fields, fileSchema.metadata);
          const batch = new RecordBatch(schema, read.data);
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
function emptyBatch(schema: Schema): RecordBatch {
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
    const where = (row: number) => `${this.name}: column "${this.column}", row ${rowsBefore + row + 1}`;
    for (let row = 0; row < data.length; row++) {
      if (!data.getValid(row)) continue;
      const size = Number(offsets[row + 1]) - Number(offsets[row]);
      if (size === 0) throw new TypeError(`${where(row)}: an empty vector`);
      this.dimensions ??= size;
      if (size !== this.dimensions) throw new TypeError(`${where(row)}: ${size} values where the vectors have ${this.dimensions}; a vector column needs one length`);
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

/** Row groups are closed at this size (of Arrow data), so memory holds at most about one. */
const PARQUET_ROW_GROUP_BYTES = 128 * 1024 * 1024;

/**
 * Parquet through parquet-wasm's streaming writer: each result batch goes in as it arrives and
 * the file's bytes come out row group by row group (zstd). A result without rows still gives a
 * file with the schema. The library's writer ignores failures on both sides (it ends its file
 * normally when its input fails, and keeps pulling when its output was refused), so both are
 * tracked here: a failed call stops the output before the file's footer (what was written is
 * then not a readable file) and fails the command; a failed output stops the input.
 */
export async function writeParquet(results: Results, out: Writable, write: (out: Writable, bytes: Uint8Array) => Promise<void>): Promise<number> {
  const { Compression, Table: WasmTable, WriterPropertiesBuilder, transformParquetStream } = await import('parquet-wasm');
  const iterator = results.batches[Symbol.asyncIterator]();
  let rows = 0;
  let schema: Schema | undefined;
  let failure: unknown;
  let stopped = false;
  const toWasm = (batch: RecordBatch) => {
    const table = WasmTable.fromIPCStream(tableToIPC(new Table([batch]), 'stream'));
    try {
      return table.recordBatches();
    } finally {
      table.free();
    }
  };
  const source = new ReadableStream({
    async pull(controller) {
      try {
        if (stopped) {
          await iterator.return?.();
          controller.close();
          return;
        }
        const next = await iterator.next();
        if (!next.done) {
          schema ??= next.value.schema;
          // The writer drops, without a word, a batch whose schema is not the file's.
          if (!util.compareSchemas(schema, next.value.schema)) throw new Error('the result changed its schema midway: a Parquet file holds one');
          rows += next.value.numRows;
          for (const batch of toWasm(next.value)) controller.enqueue(batch);
          return;
        }
        if (schema === undefined) {
          const known = results.schema();
          if (!known) throw new Error('the result has no schema: nothing to write as Parquet');
          for (const batch of toWasm(emptyBatch(known))) controller.enqueue(batch);
        }
        controller.close();
      } catch (error) {
        failure ??= error;
        controller.error(error);
      }
    },
    async cancel() {
      await iterator.return?.();
    },
  });
  const properties = new WriterPropertiesBuilder().setCompression(Compression.ZSTD).setMaxRowGroupBytes(PARQUET_ROW_GROUP_BYTES).build();
  const removeHandler = onParquetPanic('writing Parquet');
  try {
    const bytes: ReadableStream<Uint8Array> = await transformParquetStream(source, properties);
    for await (const chunk of bytes) {
      if (failure !== undefined) break; // no footer after a failed call
      await write(out, chunk);
    }
  } catch (error) {
    failure ??= error;
  } finally {
    stopped = true;
    removeHandler();
  }
  if (failure !== undefined) throw failure;
  return rows;
}
