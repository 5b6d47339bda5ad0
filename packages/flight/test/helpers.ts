/**
 * Shared helpers for the flight tests: building record batches, comparing Arrow values,
 * and running a FlightData stream through the full encode/decode path.
 */
import assert from 'node:assert/strict';
import {
  Data, DataType, Field, makeData, RecordBatch, Schema, Struct, Vector,
} from 'apache-arrow';
import {
  FlightDataDecoder, FlightDataEncoder, contiguousBody, decodeFlightData, encodeFlightData,
  type DecodedFlightData, type FlightData, type FlightDescriptor,
} from '../src/index.ts';

export const EMPTY = new Uint8Array(0);

/** A record batch whose columns are the given vectors (one chunk each), all fields nullable. */
export function batchOf(columns: Record<string, Vector>, schemaMetadata?: Map<string, string>): RecordBatch {
  const fields = Object.entries(columns).map(([name, vector]) => new Field(name, vector.type, true));
  const schema = new Schema(fields, schemaMetadata);
  return batchWithSchema(schema, Object.values(columns).map((vector) => onlyChunk(vector)));
}

/** A record batch of `schema` built from column Data (no copy). */
export function batchWithSchema(schema: Schema, children: Data[]): RecordBatch {
  const length = children.length === 0 ? 0 : children[0].length;
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length, nullCount: 0, children }));
}

export function onlyChunk(vector: Vector): Data {
  assert.equal(vector.data.length, 1, 'test vectors must have exactly one chunk');
  return vector.data[0];
}

/** Packs booleans into an Arrow validity bitmap (LSB first). */
export function bitmap(valid: boolean[]): Uint8Array {
  const out = new Uint8Array(Math.ceil(valid.length / 8));
  valid.forEach((v, i) => { if (v) out[i >> 3] |= 1 << (i & 7); });
  return out;
}

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function bytesOf(view: ArrayBufferView): Buffer {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

function isStructRow(value: unknown): value is { toJSON(): Record<string, unknown> } {
  return typeof value === 'object' && value !== null && !(value instanceof Vector) && !ArrayBuffer.isView(value)
    && typeof (value as { toJSON?: unknown }).toJSON === 'function';
}

/** Logical equality of two values as returned by `Vector.get` (NaN equals NaN, -0 differs from 0). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a === null || b === null || a === undefined || b === undefined) return false;
  if (typeof a !== typeof b) return false;
  if (typeof a !== 'object') return false;
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    return a.constructor === b.constructor && bytesOf(a).equals(bytesOf(b));
  }
  if (a instanceof Vector && b instanceof Vector) {
    if (a.length !== b.length || String(a.type) !== String(b.type) || a.nullCount !== b.nullCount) return false;
    const arrayA = a.toArray() as unknown;
    const arrayB = b.toArray() as unknown;
    if (a.nullCount === 0 && ArrayBuffer.isView(arrayA) && ArrayBuffer.isView(arrayB)) return sameValue(arrayA, arrayB);
    for (let i = 0; i < a.length; i++) if (!sameValue(a.get(i), b.get(i))) return false;
    return true;
  }
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (isStructRow(a) && isStructRow(b)) return sameValue(a.toJSON(), b.toJSON());
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((value, i) => sameValue(value, b[i]));
  }
  if (Object.getPrototypeOf(a) === Object.prototype && Object.getPrototypeOf(b) === Object.prototype) {
    const keysA = Object.keys(a as object);
    const keysB = Object.keys(b as object);
    return keysA.length === keysB.length && keysA.every((key, i) => key === keysB[i]
      && sameValue((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
  }
  return false;
}

/** A printable form of a value, for assertion messages. */
export function show(value: unknown): string {
  if (value instanceof Vector) return `Vector[${[...Array(Math.min(value.length, 8)).keys()].map((i) => show(value.get(i))).join(', ')}${value.length > 8 ? ', ...' : ''}]`;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${bytesOf(value).toString('hex').slice(0, 64)})`;
  if (isStructRow(value)) return show(value.toJSON());
  return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Vector || ArrayBuffer.isView(v) ? show(v) : v)) ?? String(value);
}

function isFixedWidth(type: DataType): boolean {
  return DataType.isInt(type) || DataType.isFloat(type) || DataType.isDate(type) || DataType.isTime(type)
    || DataType.isTimestamp(type) || DataType.isDuration(type) || DataType.isDecimal(type)
    || DataType.isInterval(type) || DataType.isFixedSizeBinary(type);
}

/**
 * The stored value of slot `index` of a fixed-width vector, as a typed-array view. `get()` is
 * lossy for some types (timestamps in nanoseconds come back as milliseconds).
 */
function rawSlot(vector: Vector, index: number): ArrayBufferView {
  let i = index;
  for (const data of vector.data) {
    if (i < data.length) {
      // Data.slice() slices the values buffer itself (data.offset only applies to bitmaps/offsets).
      const values = data.values as unknown as Uint8Array;
      return values.subarray(i * data.stride, (i + 1) * data.stride);
    }
    i -= data.length;
  }
  throw new RangeError(`index ${index} out of range`);
}

/** Asserts that two vectors hold the same logical values (validity included). */
export function assertVectorEqual(actual: Vector, expected: Vector, label: string): void {
  assert.equal(String(actual.type), String(expected.type), `${label}: type`);
  assert.equal(actual.length, expected.length, `${label}: length`);
  assert.equal(actual.nullCount, expected.nullCount, `${label}: null count`);
  for (let i = 0; i < expected.length; i++) {
    if (actual.isValid(i) !== expected.isValid(i)) assert.fail(`${label}[${i}]: validity ${actual.isValid(i)} != ${expected.isValid(i)}`);
    const a = actual.get(i);
    const e = expected.get(i);
    if (!sameValue(a, e)) assert.fail(`${label}[${i}]: ${show(a)} != ${show(e)}`);
    if (isFixedWidth(expected.type) && expected.isValid(i)) {
      const rawA = rawSlot(actual, i);
      const rawE = rawSlot(expected, i);
      if (!sameValue(rawA, rawE)) assert.fail(`${label}[${i}]: stored ${show(rawA)} != ${show(rawE)}`);
    }
  }
}

/** Asserts that a vector holds exactly `values` (null for null). */
export function assertValues(actual: Vector, values: unknown[], label: string): void {
  assert.equal(actual.length, values.length, `${label}: length`);
  for (let i = 0; i < values.length; i++) {
    const a = actual.get(i);
    if (!sameValue(a, values[i])) assert.fail(`${label}[${i}]: ${show(a)} != ${show(values[i])}`);
  }
}

/** Asserts two batches have the same schema (names, types, nullability) and the same values. */
export function assertBatchEqual(actual: RecordBatch, expected: RecordBatch, label = 'batch'): void {
  assert.deepEqual(
    actual.schema.fields.map((f) => [f.name, String(f.type), f.nullable]),
    expected.schema.fields.map((f) => [f.name, String(f.type), f.nullable]),
    `${label}: schema`,
  );
  assert.equal(actual.numRows, expected.numRows, `${label}: numRows`);
  for (let c = 0; c < expected.numCols; c++) {
    const name = expected.schema.fields[c].name;
    assertVectorEqual(actual.getChildAt(c)!, expected.getChildAt(c)!, `${label}.${name}`);
  }
}

export interface RoundTrip {
  /** What the encoder produced. */
  sent: FlightData[];
  /** Serialized protobuf messages. */
  wire: Buffer[];
  /** decodeFlightData of each wire message. */
  received: FlightData[];
  /** FlightDataDecoder output for each received message. */
  decoded: DecodedFlightData[];
  /** Only the record batches, in order. */
  batches: RecordBatch[];
  decoder: FlightDataDecoder;
}

/**
 * RecordBatch -> FlightDataEncoder -> encodeFlightData -> decodeFlightData -> FlightDataDecoder.
 * Also asserts every received body is contiguous and 8-byte aligned.
 */
export function roundTrip(schema: Schema, batches: RecordBatch[], options: {
  descriptor?: FlightDescriptor;
  schemaMetadata?: Uint8Array;
  appMetadata?: (index: number) => Uint8Array;
} = {}): RoundTrip {
  const encoder = new FlightDataEncoder(schema);
  const sent: FlightData[] = [encoder.schemaMessage(options.descriptor, options.schemaMetadata)];
  batches.forEach((batch, i) => sent.push(...encoder.batchMessages(batch, options.appMetadata?.(i))));
  return decodeAll(sent);
}

/** Serializes, parses and decodes already-built FlightData messages. */
export function decodeAll(sent: FlightData[]): RoundTrip {
  const wire = sent.map((message) => encodeFlightData(message));
  const received = wire.map((bytes) => decodeFlightData(bytes));
  for (const [i, message] of received.entries()) {
    assert.ok(message.dataBody instanceof Uint8Array, `message ${i}: received body must be a Uint8Array`);
    assert.equal(message.dataBody.byteOffset % 8, 0, `message ${i}: received body must be 8-byte aligned`);
    assert.ok(bytesOf(message.dataBody).equals(bytesOf(contiguousBody(sent[i].dataBody))), `message ${i}: body bytes`);
    assert.ok(bytesOf(message.dataHeader).equals(bytesOf(sent[i].dataHeader)), `message ${i}: header bytes`);
    assert.ok(bytesOf(message.appMetadata).equals(bytesOf(sent[i].appMetadata)), `message ${i}: app_metadata bytes`);
  }
  const decoder = new FlightDataDecoder();
  const decoded = received.map((message) => decoder.decode(message));
  const batches = decoded.flatMap((d) => (d.kind === 'batch' ? [d.batch] : []));
  return { sent, wire, received, decoded, batches, decoder };
}

export function kinds(decoded: DecodedFlightData[]): string[] {
  return decoded.map((d) => d.kind);
}


export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Rejects after `ms` unless `promise` settles first (a bounded wait, not a timing assertion). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise with its resolve function exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}
