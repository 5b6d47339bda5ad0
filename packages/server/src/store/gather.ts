/**
 * `gatherBatch(batch, rows)`: a new batch holding only the given rows, in order. Fixed-width,
 * string, fixed-size-list, struct and dictionary columns are gathered with typed-array loops;
 * other nested types fall back to apache-arrow builders.
 */
import { DataType, RecordBatch, Struct, Vector, makeBuilder, makeData, type Data } from 'apache-arrow';

// Row numbers are relative to the Data: apache-arrow slices value and offset buffers when it
// slices Data, and keeps `offset` only for bit-addressed buffers (validity, booleans).

/** Copies the validity bits of `rows` into a new bitmap, or returns undefined when no row is null. */
function gatherValidity(data: Data, rows: Uint32Array): { bitmap: Uint8Array | undefined; nullCount: number } {
  if (data.nullCount === 0) return { bitmap: undefined, nullCount: 0 };
  const bitmap = new Uint8Array((rows.length + 7) >> 3);
  let nullCount = 0;
  for (let i = 0; i < rows.length; i++) {
    if (data.getValid(rows[i])) bitmap[i >> 3] |= 1 << (i & 7);
    else nullCount++;
  }
  return { bitmap, nullCount };
}

type NumericArray = Exclude<Data['values'], undefined> & { length: number; [index: number]: number | bigint };

function gatherFixedWidth(data: Data, rows: Uint32Array): Data {
  const stride = data.stride;
  const source = data.values as unknown as NumericArray;
  const Constructor = source.constructor as new (length: number) => NumericArray;
  const out = new Constructor(rows.length * stride);
  if (stride === 1) {
    for (let i = 0; i < rows.length; i++) out[i] = source[rows[i]];
  } else {
    for (let i = 0; i < rows.length; i++) {
      const from = rows[i] * stride;
      for (let j = 0; j < stride; j++) out[i * stride + j] = source[from + j];
    }
  }
  const { bitmap, nullCount } = gatherValidity(data, rows);
  return makeData({ type: data.type, length: rows.length, nullCount, nullBitmap: bitmap, data: out, dictionary: data.dictionary } as never);
}

function gatherBool(data: Data, rows: Uint32Array): Data {
  const out = new Uint8Array((rows.length + 7) >> 3);
  const values = data.values as Uint8Array;
  for (let i = 0; i < rows.length; i++) {
    const bit = data.offset + rows[i];
    if (values[bit >> 3] & (1 << (bit & 7))) out[i >> 3] |= 1 << (i & 7);
  }
  const { bitmap, nullCount } = gatherValidity(data, rows);
  return makeData({ type: data.type, length: rows.length, nullCount, nullBitmap: bitmap, data: out } as never);
}

function gatherVariableWidth(data: Data, rows: Uint32Array): Data {
  const offsets = data.valueOffsets as Int32Array | BigInt64Array;
  const values = data.values as Uint8Array;
  const isLarge = offsets instanceof BigInt64Array;
  let total = 0;
  for (const row of rows) total += Number(offsets[row + 1]) - Number(offsets[row]);
  const outValues = new Uint8Array(total);
  const outOffsets = isLarge ? new BigInt64Array(rows.length + 1) : new Int32Array(rows.length + 1);
  let position = 0;
  for (let i = 0; i < rows.length; i++) {
    const start = Number(offsets[rows[i]]);
    const end = Number(offsets[rows[i] + 1]);
    outValues.set(values.subarray(start, end), position);
    position += end - start;
    outOffsets[i + 1] = (isLarge ? BigInt(position) : position) as never;
  }
  const { bitmap, nullCount } = gatherValidity(data, rows);
  return makeData({ type: data.type, length: rows.length, nullCount, nullBitmap: bitmap, valueOffsets: outOffsets, data: outValues } as never);
}

function gatherFixedSizeList(data: Data, rows: Uint32Array): Data {
  const size = (data.type as unknown as { listSize: number }).listSize;
  const childRows = new Uint32Array(rows.length * size);
  for (let i = 0; i < rows.length; i++) {
    const start = rows[i] * size;
    for (let j = 0; j < size; j++) childRows[i * size + j] = start + j;
  }
  const child = gatherData(data.children[0], childRows);
  const { bitmap, nullCount } = gatherValidity(data, rows);
  return makeData({ type: data.type, length: rows.length, nullCount, nullBitmap: bitmap, child } as never);
}

function gatherStruct(data: Data, rows: Uint32Array): Data {
  const children = data.children.map((child) => gatherData(child, rows));
  const { bitmap, nullCount } = gatherValidity(data, rows);
  return makeData({ type: data.type, length: rows.length, nullCount, nullBitmap: bitmap, children } as never);
}

function gatherWithBuilder(data: Data, rows: Uint32Array): Data {
  const builder = makeBuilder({ type: data.type, nullValues: [null, undefined] });
  const vector = new Vector([data]);
  for (const row of rows) builder.append(vector.get(row));
  return builder.finish().flush();
}

/** Rows `rows` of `data`, in the given order. */
export function gatherData(data: Data, rows: Uint32Array): Data {
  const type = data.type;
  if (DataType.isNull(type)) return makeData({ type, length: rows.length } as never);
  if (DataType.isBool(type)) return gatherBool(data, rows);
  if (DataType.isInt(type) || DataType.isFloat(type) || DataType.isDate(type) || DataType.isTime(type)
    || DataType.isTimestamp(type) || DataType.isDuration(type) || DataType.isDecimal(type)
    || DataType.isInterval(type) || DataType.isFixedSizeBinary(type) || DataType.isDictionary(type)) {
    return gatherFixedWidth(data, rows);
  }
  if (DataType.isUtf8(type) || DataType.isBinary(type) || DataType.isLargeUtf8(type) || DataType.isLargeBinary(type)) {
    return gatherVariableWidth(data, rows);
  }
  if (DataType.isFixedSizeList(type)) return gatherFixedSizeList(data, rows);
  if (DataType.isStruct(type)) return gatherStruct(data, rows);
  return gatherWithBuilder(data, rows);
}

/**
 * Row `rows[i]` of `sources[i]` for each i, as one Data (the sources share one column type,
 * e.g. the same column of several batches). Fixed-width and variable-width types are copied
 * with typed-array loops; undefined for others (nested, dictionaries, booleans), which the
 * caller builds otherwise.
 */
export function gatherFromMany(type: DataType, sources: readonly Data[], rows: Uint32Array): Data | undefined {
  const fixedWidth = DataType.isInt(type) || DataType.isFloat(type) || DataType.isDate(type) || DataType.isTime(type)
    || DataType.isTimestamp(type) || DataType.isDuration(type) || DataType.isDecimal(type)
    || DataType.isInterval(type) || DataType.isFixedSizeBinary(type);
  const variableWidth = DataType.isUtf8(type) || DataType.isBinary(type) || DataType.isLargeUtf8(type) || DataType.isLargeBinary(type);
  if ((!fixedWidth && !variableWidth) || sources.length === 0) return undefined;
  let bitmap: Uint8Array | undefined;
  let nullCount = 0;
  for (let i = 0; i < sources.length; i++) {
    if (sources[i].nullCount === 0 || sources[i].getValid(rows[i])) continue;
    bitmap ??= new Uint8Array((sources.length + 7) >> 3).fill(0xff);
    bitmap[i >> 3] &= ~(1 << (i & 7));
    nullCount++;
  }
  const length = sources.length;
  if (fixedWidth) {
    const stride = sources[0].stride;
    const Constructor = (sources[0].values as unknown as NumericArray).constructor as new (length: number) => NumericArray;
    const out = new Constructor(length * stride);
    for (let i = 0; i < length; i++) {
      if (bitmap && (bitmap[i >> 3] & (1 << (i & 7))) === 0) continue; // null: its values may be absent
      const source = sources[i].values as unknown as NumericArray;
      const from = rows[i] * stride;
      for (let j = 0; j < stride; j++) out[i * stride + j] = source[from + j];
    }
    return makeData({ type, length, nullCount, nullBitmap: bitmap, data: out } as never);
  }
  const isLarge = sources[0].valueOffsets instanceof BigInt64Array;
  let total = 0;
  for (let i = 0; i < length; i++) {
    const offsets = sources[i].valueOffsets as Int32Array | BigInt64Array;
    total += Number(offsets[rows[i] + 1]) - Number(offsets[rows[i]]);
  }
  const outValues = new Uint8Array(total);
  const outOffsets = isLarge ? new BigInt64Array(length + 1) : new Int32Array(length + 1);
  let position = 0;
  for (let i = 0; i < length; i++) {
    const offsets = sources[i].valueOffsets as Int32Array | BigInt64Array;
    const start = Number(offsets[rows[i]]);
    const end = Number(offsets[rows[i] + 1]);
    outValues.set((sources[i].values as Uint8Array).subarray(start, end), position);
    position += end - start;
    outOffsets[i + 1] = (isLarge ? BigInt(position) : position) as never;
  }
  return makeData({ type, length, nullCount, nullBitmap: bitmap, valueOffsets: outOffsets, data: outValues } as never);
}

/** A batch with only `rows` (ascending or not), all columns gathered. */
export function gatherBatch(batch: RecordBatch, rows: Uint32Array): RecordBatch {
  if (rows.length === batch.numRows && rows.every((row, i) => row === i)) return batch;
  const children = batch.data.children.map((child) => gatherData(child, rows));
  const data = makeData({ type: new Struct(batch.schema.fields), length: rows.length, nullCount: 0, children });
  return new RecordBatch(batch.schema, data);
}
