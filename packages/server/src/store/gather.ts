/**
 * `gatherBatch(batch, rows)`: a new batch holding only the given rows, in order. Fixed-width,
 * string, fixed-size-list, struct and dictionary columns are gathered with typed-array loops;
 * other nested types fall back to apache-arrow builders.
 */
import { DataType, RecordBatch, Struct, Vector, makeBuilder, makeData, type Data } from 'apache-arrow';

// Row numbers are relative to the Data: apache-arrow slices value and offset buffers when it
// slices Data, and keeps `offset` only for bit-addressed buffers (validity, booleans).

/**
 * Where output row i comes from: row rows[i] of `sources[0]` when there is one source (a column
 * gathered from one batch), else of `sources[i]` (one column gathered across batches).
 */
type Sources = readonly Data[];

/** Copies the validity bits of `rows` into a new bitmap, or returns undefined when no source has nulls. */
function gatherValidity(sources: Sources, rows: Uint32Array): { bitmap: Uint8Array | undefined; nullCount: number } {
  if (sources.every((source) => source.nullCount === 0)) return { bitmap: undefined, nullCount: 0 };
  const single = sources.length === 1 ? sources[0] : undefined;
  const bitmap = new Uint8Array((rows.length + 7) >> 3);
  let nullCount = 0;
  for (let i = 0; i < rows.length; i++) {
    if ((single ?? sources[i]).getValid(rows[i])) bitmap[i >> 3] |= 1 << (i & 7);
    else nullCount++;
  }
  return { bitmap, nullCount };
}

function isNull(bitmap: Uint8Array | undefined, i: number): boolean {
  return bitmap !== undefined && (bitmap[i >> 3] & (1 << (i & 7))) === 0;
}

type NumericArray = Exclude<Data['values'], undefined> & { length: number; [index: number]: number | bigint };

/** Fixed-width values (null rows' values are left zero: an all-null column may have none). */
function gatherFixedWidth(type: DataType, sources: Sources, rows: Uint32Array): Data {
  const stride = sources[0].stride;
  const single = sources.length === 1 ? sources[0].values as unknown as NumericArray : undefined;
  const Constructor = (sources[0].values as unknown as NumericArray).constructor as new (length: number) => NumericArray;
  const out = new Constructor(rows.length * stride);
  const { bitmap, nullCount } = gatherValidity(sources, rows);
  for (let i = 0; i < rows.length; i++) {
    if (isNull(bitmap, i)) continue;
    const source = single ?? sources[i].values as unknown as NumericArray;
    if (stride === 1) {
      out[i] = source[rows[i]];
      continue;
    }
    const from = rows[i] * stride;
    for (let j = 0; j < stride; j++) out[i * stride + j] = source[from + j];
  }
  return makeData({ type, length: rows.length, nullCount, nullBitmap: bitmap, data: out, dictionary: sources[0].dictionary } as never);
}

function gatherBool(data: Data, rows: Uint32Array): Data {
  const out = new Uint8Array((rows.length + 7) >> 3);
  const values = data.values as Uint8Array;
  for (let i = 0; i < rows.length; i++) {
    const bit = data.offset + rows[i];
    if (values[bit >> 3] & (1 << (bit & 7))) out[i >> 3] |= 1 << (i & 7);
  }
  const { bitmap, nullCount } = gatherValidity([data], rows);
  return makeData({ type: data.type, length: rows.length, nullCount, nullBitmap: bitmap, data: out } as never);
}

function gatherVariableWidth(type: DataType, sources: Sources, rows: Uint32Array): Data {
  const single = sources.length === 1 ? sources[0] : undefined;
  const isLarge = sources[0].valueOffsets instanceof BigInt64Array;
  let total = 0;
  for (let i = 0; i < rows.length; i++) {
    const offsets = (single ?? sources[i]).valueOffsets as Int32Array | BigInt64Array;
    total += Number(offsets[rows[i] + 1]) - Number(offsets[rows[i]]);
  }
  const outValues = new Uint8Array(total);
  const outOffsets = isLarge ? new BigInt64Array(rows.length + 1) : new Int32Array(rows.length + 1);
  let position = 0;
  for (let i = 0; i < rows.length; i++) {
    const source = single ?? sources[i];
    const offsets = source.valueOffsets as Int32Array | BigInt64Array;
    const start = Number(offsets[rows[i]]);
    const end = Number(offsets[rows[i] + 1]);
    outValues.set((source.values as Uint8Array).subarray(start, end), position);
    position += end - start;
    outOffsets[i + 1] = (isLarge ? BigInt(position) : position) as never;
  }
  const { bitmap, nullCount } = gatherValidity(sources, rows);
  return makeData({ type, length: rows.length, nullCount, nullBitmap: bitmap, valueOffsets: outOffsets, data: outValues } as never);
}

function gatherFixedSizeList(data: Data, rows: Uint32Array): Data {
  const size = (data.type as unknown as { listSize: number }).listSize;
  const childRows = new Uint32Array(rows.length * size);
  for (let i = 0; i < rows.length; i++) {
    const start = rows[i] * size;
    for (let j = 0; j < size; j++) childRows[i * size + j] = start + j;
  }
  const child = gatherData(data.children[0], childRows);
  const { bitmap, nullCount } = gatherValidity([data], rows);
  return makeData({ type: data.type, length: rows.length, nullCount, nullBitmap: bitmap, child } as never);
}

function gatherStruct(data: Data, rows: Uint32Array): Data {
  const children = data.children.map((child) => gatherData(child, rows));
  const { bitmap, nullCount } = gatherValidity([data], rows);
  return makeData({ type: data.type, length: rows.length, nullCount, nullBitmap: bitmap, children } as never);
}

function gatherWithBuilder(data: Data, rows: Uint32Array): Data {
  const builder = makeBuilder({ type: data.type, nullValues: [null, undefined] });
  const vector = new Vector([data]);
  for (const row of rows) builder.append(vector.get(row));
  return builder.finish().flush();
}

function isFixedWidth(type: DataType): boolean {
  return DataType.isInt(type) || DataType.isFloat(type) || DataType.isDate(type) || DataType.isTime(type)
    || DataType.isTimestamp(type) || DataType.isDuration(type) || DataType.isDecimal(type)
    || DataType.isInterval(type) || DataType.isFixedSizeBinary(type);
}

function isVariableWidth(type: DataType): boolean {
  return DataType.isUtf8(type) || DataType.isBinary(type) || DataType.isLargeUtf8(type) || DataType.isLargeBinary(type);
}

/** Rows `rows` of `data`, in the given order. */
export function gatherData(data: Data, rows: Uint32Array): Data {
  const type = data.type;
  if (DataType.isNull(type)) return makeData({ type, length: rows.length } as never);
  if (DataType.isBool(type)) return gatherBool(data, rows);
  // A dictionary column's indices are fixed-width; its one dictionary goes along.
  if (isFixedWidth(type) || DataType.isDictionary(type)) return gatherFixedWidth(type, [data], rows);
  if (isVariableWidth(type)) return gatherVariableWidth(type, [data], rows);
  if (DataType.isFixedSizeList(type)) return gatherFixedSizeList(data, rows);
  if (DataType.isStruct(type)) return gatherStruct(data, rows);
  return gatherWithBuilder(data, rows);
}

/**
 * Row `rows[i]` of `sources[i]` for each i, as one Data (the sources share one column type,
 * e.g. the same column of several batches). Fixed-width and variable-width types are copied
 * with the loops gatherData uses; undefined for others (nested, dictionaries, booleans), which
 * the caller builds otherwise.
 */
export function gatherFromMany(type: DataType, sources: Sources, rows: Uint32Array): Data | undefined {
  if (sources.length === 0) return undefined;
  if (isFixedWidth(type)) return gatherFixedWidth(type, sources, rows);
  if (isVariableWidth(type)) return gatherVariableWidth(type, sources, rows);
  return undefined;
}

/** A batch with only `rows` (ascending or not), all columns gathered. */
export function gatherBatch(batch: RecordBatch, rows: Uint32Array): RecordBatch {
  if (rows.length === batch.numRows && rows.every((row, i) => row === i)) return batch;
  const children = batch.data.children.map((child) => gatherData(child, rows));
  const data = makeData({ type: new Struct(batch.schema.fields), length: rows.length, nullCount: 0, children });
  return new RecordBatch(batch.schema, data);
}
