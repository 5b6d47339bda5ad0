/**
 * Round trips through the whole data path:
 * RecordBatch -> FlightDataEncoder -> encodeFlightData -> decodeFlightData -> FlightDataDecoder -> RecordBatch.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { DictionaryBatch as DictionaryBatchHeader, Message } from 'apache-arrow/ipc/metadata/message';
import {
  Binary, Bool, DateDay, Dictionary, Field, FixedSizeList, Float16, Float32, Float64, Int16, Int32, Int64, Int8,
  LargeUtf8, List, makeData, Null, RecordBatch, Schema, Struct, TimestampMillisecond, TimestampNanosecond, Uint16,
  Uint32, Uint64, Uint8, Utf8, Vector, vectorFromArray, type Data,
} from 'apache-arrow';
import {
  alignTo8, commandDescriptor, contiguousBody, decodeEncapsulatedSchema, decodeFlightData, DescriptorType,
  encapsulateSchema, encodeFlightData, encodeRecordBatches, FlightDataDecoder, FlightDataEncoder, flightDataParts, pathDescriptor,
  schemaHeader, type FlightData, type ScatteredBody,
} from '../src/index.ts';
import {
  assertBatchEqual, assertValues, batchOf, batchWithSchema, bitmap, decodeAll, EMPTY, kinds, onlyChunk, prng,
  roundTrip, utf8,
} from './helpers.ts';

const protoRoot = protobuf.loadSync(fileURLToPath(new URL('../proto/Flight.proto', import.meta.url)));
const FlightDataProto = protoRoot.lookupType('arrow.flight.protocol.FlightData');

// ---------------------------------------------------------------------------------------------
// Column generators. Each returns the vector and, where get() returns the input value as is,
// the plain JS values it was built from (an independent oracle for the decoded values).

interface Column { vector: Vector; values?: unknown[] }

const nullEvery = (k: number) => (i: number) => i % k === k - 1;
const maybe = <T>(isNull: (i: number) => boolean, i: number, value: T): T | null => (isNull(i) ? null : value);

function ints(n: number, make: (i: number) => number | bigint, type: Int8 | Int16 | Int32 | Int64 | Uint8 | Uint16 | Uint32 | Uint64, k = 5): Column {
  const values = Array.from({ length: n }, (_, i) => maybe(nullEvery(k), i, make(i)));
  return { vector: vectorFromArray(values, type), values };
}

const STRINGS = ['', 'a', 'héllo', '日本語', 'emoji 🚀', 'x'.repeat(40)];

function tsNanos(n: number): Column {
  // Built by hand: sub-millisecond nanoseconds must survive (vectorFromArray takes milliseconds).
  const raw = new BigInt64Array(n);
  const valid: boolean[] = [];
  for (let i = 0; i < n; i++) {
    raw[i] = 1_700_000_000_123_456_789n + BigInt(i) * 1_000_001n;
    valid.push(i % 6 !== 2);
  }
  const nullCount = valid.filter((v) => !v).length;
  const data = makeData({ type: new TimestampNanosecond('UTC'), length: n, nullCount, nullBitmap: nullCount ? bitmap(valid) : null, data: raw });
  return { vector: new Vector([data]) };
}

function fixedSizeList(n: number, size: number, child: Float32 | Uint8): Column {
  const ArrayType = child instanceof Float32 ? Float32Array : Uint8Array;
  const values = new ArrayType(n * size);
  for (let i = 0; i < values.length; i++) values[i] = child instanceof Float32 ? (i % 1000) * 0.25 - 100 : i % 251;
  const valid = Array.from({ length: n }, (_, i) => i % 11 !== 3);
  const nullCount = valid.filter((v) => !v).length;
  const childData = child instanceof Float32
    ? makeData({ type: child, length: n * size, nullCount: 0, data: values as Float32Array })
    : makeData({ type: child, length: n * size, nullCount: 0, data: values as Uint8Array });
  const type: FixedSizeList = new FixedSizeList(size, new Field('item', child, true));
  const data = makeData({ type, length: n, nullCount, nullBitmap: nullCount ? bitmap(valid) : null, child: childData });
  return { vector: new Vector([data]) };
}

const dictionaryType = new Dictionary(new Utf8(), new Int32(), 7);

/**
 * Every supported column type, `n` rows, nulls in every nullable column.
 * `only` restricts the columns built (building all of them for 100_000 rows is slow).
 */
function allTypes(n: number, only?: string[]): Record<string, Column> {
  const columns: Record<string, Column> = {};
  const want = (name: string) => only === undefined || only.includes(name);
  if (want('int8')) columns.int8 = ints(n, (i) => (i % 256) - 128, new Int8());
  if (want('int16')) columns.int16 = ints(n, (i) => ((i * 37) % 65536) - 32768, new Int16());
  if (want('int32')) columns.int32 = ints(n, (i) => (i * 2_654_435_761) % 2 ** 31 - 2 ** 30, new Int32(), 3);
  if (want('int64')) columns.int64 = ints(n, (i) => BigInt(i) * 1_000_000_000_007n - 2n ** 62n, new Int64());
  if (want('uint8')) columns.uint8 = ints(n, (i) => i % 256, new Uint8());
  if (want('uint16')) columns.uint16 = ints(n, (i) => (i * 13) % 65536, new Uint16());
  if (want('uint32')) columns.uint32 = ints(n, (i) => (i * 2_654_435_761) % 2 ** 32, new Uint32());
  if (want('uint64')) columns.uint64 = ints(n, (i) => 2n ** 64n - 1n - BigInt(i) * 3n, new Uint64());
  if (want('float16')) {
    const values = Array.from({ length: n }, (_, i) => maybe(nullEvery(4), i, (i % 2048) / 4 - 256));
    columns.float16 = { vector: vectorFromArray(values, new Float16()), values };
  }
  if (want('float32')) {
    const values = Array.from({ length: n }, (_, i) => maybe(nullEvery(5), i, i % 97 === 0 ? NaN : (i % 100_000) * 0.5 - 17.25));
    columns.float32 = { vector: vectorFromArray(values, new Float32()), values };
  }
  if (want('float64')) {
    const special = [Infinity, -Infinity, NaN, -0, Number.MIN_VALUE, Number.MAX_VALUE];
    const values = Array.from({ length: n }, (_, i) => maybe(nullEvery(6), i, i < special.length ? special[i] : i * 0.1 + 1e10));
    columns.float64 = { vector: vectorFromArray(values, new Float64()), values };
  }
  if (want('bool')) {
    const values = Array.from({ length: n }, (_, i) => maybe(nullEvery(7), i, i % 3 === 0));
    columns.bool = { vector: vectorFromArray(values, new Bool()), values };
  }
  if (want('utf8') || want('large_utf8')) {
    const values = Array.from({ length: n }, (_, i) => maybe(nullEvery(4), i, `${STRINGS[i % STRINGS.length]}${i}`));
    if (want('utf8')) columns.utf8 = { vector: vectorFromArray(values, new Utf8()), values };
    if (want('large_utf8')) columns.large_utf8 = { vector: vectorFromArray(values, new LargeUtf8()), values };
  }
  if (want('binary')) {
    const values = Array.from({ length: n }, (_, i) => maybe(nullEvery(5), i, Uint8Array.from({ length: i % 6 }, (_, j) => (i + j) % 256)));
    columns.binary = { vector: vectorFromArray(values, new Binary()), values };
  }
  if (want('timestamp_ns_utc')) columns.timestamp_ns_utc = tsNanos(n);
  if (want('timestamp_ms_tz')) {
    const values = Array.from({ length: n }, (_, i) => maybe(nullEvery(5), i, 1_700_000_000_000 + i * 1001));
    columns.timestamp_ms_tz = { vector: vectorFromArray(values, new TimestampMillisecond('Europe/Paris')), values };
  }
  if (want('date32')) {
    const days = Array.from({ length: n }, (_, i) => maybe(nullEvery(5), i, Date.UTC(2000, 0, 1) + (i % 20_000) * 86_400_000));
    columns.date32 = { vector: vectorFromArray(days.map((ms) => (ms === null ? null : new Date(ms))), new DateDay()), values: days };
  }
  if (want('fsl_f32_128')) columns.fsl_f32_128 = fixedSizeList(n, 128, new Float32());
  if (want('fsl_u8_16')) columns.fsl_u8_16 = fixedSizeList(n, 16, new Uint8());
  if (want('list_int32')) {
    const values = Array.from({ length: n }, (_, i) => maybe(nullEvery(6), i, Array.from({ length: i % 5 }, (_, j) => (j === 2 ? null : i * 10 + j))));
    columns.list_int32 = { vector: vectorFromArray(values, new List(new Field('item', new Int32(), true))) };
  }
  if (want('struct')) {
    const type = new Struct([new Field('x', new Int32(), true), new Field('y', new Utf8(), true)]);
    const values = Array.from({ length: n }, (_, i) => maybe(nullEvery(5), i, { x: i % 4 === 1 ? null : i, y: i % 3 === 0 ? null : `y${i}` }));
    columns.struct = { vector: vectorFromArray(values, type) };
  }
  if (want('dictionary')) {
    const words = ['red', 'green', 'blue', 'cyan'];
    const values = Array.from({ length: n }, (_, i) => maybe(nullEvery(5), i, words[(i * 7) % words.length]));
    columns.dictionary = { vector: vectorFromArray(values, dictionaryType), values };
  }
  {
    const values = Array.from({ length: n }, () => null);
    if (want('all_null_int32')) columns.all_null_int32 = { vector: vectorFromArray(values, new Int32()), values };
  }
  return columns;
}

function batchOfColumns(columns: Record<string, Column>): RecordBatch {
  return batchOf(Object.fromEntries(Object.entries(columns).map(([name, c]) => [name, c.vector])));
}

function assertColumnsMatchSource(batch: RecordBatch, columns: Record<string, Column>): void {
  for (const [name, column] of Object.entries(columns)) {
    if (column.values) assertValues(batch.getChild(name)!, column.values, `decoded.${name}`);
  }
}

// ---------------------------------------------------------------------------------------------

describe('round trip of every column type', () => {
  for (const n of [0, 1, 7, 8, 1000]) {
    test(`${n} rows`, () => {
      const columns = allTypes(n);
      const batch = batchOfColumns(columns);
      assert.equal(batch.numRows, n);
      const result = roundTrip(batch.schema, [batch]);
      assert.deepEqual(kinds(result.decoded), ['schema', 'dictionary', 'batch']);
      assert.equal(result.batches.length, 1);
      const [decoded] = result.batches;
      assertBatchEqual(decoded, batch);
      assertColumnsMatchSource(decoded, columns);
      if (n > 0) {
        // Spot checks against hand-computed values, independent of apache-arrow's builders.
        assert.equal(decoded.getChild('int8')!.get(0), -128);
        assert.equal(decoded.getChild('uint64')!.get(0), 2n ** 64n - 1n);
        assert.equal(decoded.getChild('float64')!.get(0), Infinity);
        assert.equal(decoded.getChild('utf8')!.get(0), '0');
        const ns = decoded.getChild('timestamp_ns_utc')!.data[0].values as BigInt64Array;
        assert.equal(ns[0], 1_700_000_000_123_456_789n, 'nanosecond precision kept');
        const fsl = decoded.getChild('fsl_f32_128')!.get(0) as Vector;
        assert.equal(fsl.length, 128);
        assert.equal(fsl.get(5), 5 * 0.25 - 100);
        assert.deepEqual(Array.from(decoded.getChild('fsl_u8_16')!.get(0) as Vector), Array.from({ length: 16 }, (_, j) => j));
        assert.equal(decoded.getChild('all_null_int32')!.nullCount, n);
      }
      if (n >= 7) {
        assert.deepEqual(Array.from(decoded.getChild('list_int32')!.get(4) as Vector), [40, 41, null, 43]);
        assert.deepEqual((decoded.getChild('struct')!.get(1) as { toJSON(): unknown }).toJSON(), { x: null, y: 'y1' });
        assert.equal(decoded.getChild('struct')!.get(4), null);
        assert.equal(decoded.getChild('fsl_f32_128')!.get(3), null);
      }
    });
  }

  test('100_000 rows (wide vectors, strings, dictionary, nulls)', () => {
    const n = 100_000;
    const columns = allTypes(n, ['int32', 'int64', 'float64', 'bool', 'utf8', 'timestamp_ns_utc', 'fsl_f32_128', 'dictionary']);
    assert.equal(Object.keys(columns).length, 8);
    const batch = batchOfColumns(columns);
    const result = roundTrip(batch.schema, [batch]);
    assert.ok(result.wire[2].byteLength > n * 128 * 4, 'the batch message carries the whole body');
    const [decoded] = result.batches;
    assertBatchEqual(decoded, batch);
    assertColumnsMatchSource(decoded, columns);
    assert.equal((decoded.getChild('fsl_f32_128')!.get(n - 1) as Vector).get(127), (((n - 1) * 128 + 127) % 1000) * 0.25 - 100);
  });

  for (const [name, make] of Object.entries({
    'timestamp[ns, UTC]': (n: number) => tsNanos(n),
    'FixedSizeList<float32>[128]': (n: number) => fixedSizeList(n, 128, new Float32()),
    'FixedSizeList<uint8>[16]': (n: number) => fixedSizeList(n, 16, new Uint8()),
  })) {
    test(`single column ${name} keeps its exact buffers`, () => {
      const column = make(33);
      const batch = batchOf({ c: column.vector });
      const { batches: [decoded] } = roundTrip(batch.schema, [batch]);
      assertBatchEqual(decoded, batch);
      const flat = (data: Data) => (data.children.length ? data.children[0].values : data.values) as ArrayBufferView;
      const sentBytes = Buffer.from(flat(onlyChunk(column.vector)).buffer, flat(onlyChunk(column.vector)).byteOffset, flat(onlyChunk(column.vector)).byteLength);
      const got = flat(decoded.getChild('c')!.data[0]);
      assert.ok(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(sentBytes));
    });
  }

  test('schema field types survive exactly (timezones, list sizes, dictionary index type)', () => {
    const batch = batchOfColumns(allTypes(3));
    const { decoded } = roundTrip(batch.schema, [batch]);
    assert.equal(decoded[0].kind, 'schema');
    const schema = decoded[0].kind === 'schema' ? decoded[0].schema : undefined;
    assert.ok(schema);
    const types = Object.fromEntries(schema.fields.map((f) => [f.name, String(f.type)]));
    assert.equal(types.timestamp_ns_utc, 'Timestamp<NANOSECOND, UTC>');
    assert.equal(types.timestamp_ms_tz, 'Timestamp<MILLISECOND, Europe/Paris>');
    assert.equal(types.fsl_f32_128, 'FixedSizeList[128]<Float32>');
    assert.equal(types.fsl_u8_16, 'FixedSizeList[16]<Uint8>');
    assert.equal(types.dictionary, 'Dictionary<Int32, Utf8>');
    assert.equal(types.large_utf8, 'LargeUtf8');
    assert.equal(types.date32, 'Date32<DAY>');
    assert.equal(types.float16, 'Float16');
    const dictionaryField = schema.fields.find((f) => f.name === 'dictionary')!;
    assert.equal((dictionaryField.type as Dictionary).id, 7);
  });

  test('schema metadata and field metadata are carried', () => {
    const vector = vectorFromArray([1, 2], new Int32());
    const schema = new Schema([new Field('a', vector.type, false, new Map([['unit', 'm']]))], new Map([['owner', 'longbow']]));
    const batch = batchWithSchema(schema, [onlyChunk(vector)]);
    const { decoded, batches } = roundTrip(schema, [batch]);
    assert.ok(decoded[0].kind === 'schema');
    assert.equal(decoded[0].schema.metadata.get('owner'), 'longbow');
    assert.equal(decoded[0].schema.fields[0].metadata.get('unit'), 'm');
    assert.equal(decoded[0].schema.fields[0].nullable, false);
    assertValues(batches[0].getChild('a')!, [1, 2], 'a');
  });

  test('a Null-typed column (no buffers at all) round-trips', {
  }, () => {
    const values = [null, null, null];
    const batch = batchOf({ n: vectorFromArray(values, new Null()), i: vectorFromArray([1, 2, 3], new Int32()) });
    const { batches: [decoded] } = roundTrip(batch.schema, [batch]);
    assertBatchEqual(decoded, batch);
    assert.equal(decoded.getChild('n')!.nullCount, 3);
    assertValues(decoded.getChild('i')!, [1, 2, 3], 'i');
  });
});

describe('streams of several batches', () => {
  test('many batches of one schema keep their order and values', () => {
    const batches = [0, 5, 1, 64, 0, 9].map((n, k) => {
      const values = Array.from({ length: n }, (_, i) => k * 1000 + i);
      return batchOf({ v: vectorFromArray(values, new Int32()), s: vectorFromArray(values.map(String), new Utf8()) });
    });
    const schema = batches[0].schema;
    const aligned = batches.map((b) => batchWithSchema(schema, b.data.children));
    const result = roundTrip(schema, aligned);
    assert.deepEqual(kinds(result.decoded), ['schema', ...aligned.map(() => 'batch')]);
    assert.equal(result.batches.length, aligned.length);
    result.batches.forEach((b, i) => assertBatchEqual(b, aligned[i], `batch ${i}`));
  });

  test('two batches with different dictionaries send a replacement dictionary', () => {
    const type = new Dictionary(new Utf8(), new Int32(), 3);
    const first = vectorFromArray(['a', 'b', 'a', null], type);
    const second = vectorFromArray(['x', 'y', 'z', 'x', 'y'], type);
    const schema = new Schema([new Field('d', type, true)]);
    const b1 = batchWithSchema(schema, [onlyChunk(first)]);
    const b2 = batchWithSchema(schema, [onlyChunk(second)]);
    const result = roundTrip(schema, [b1, b2]);
    assert.deepEqual(kinds(result.decoded), ['schema', 'dictionary', 'batch', 'dictionary', 'batch']);
    const dictionaryIds = result.decoded.flatMap((d) => (d.kind === 'dictionary' ? [d.id] : []));
    assert.deepEqual(dictionaryIds, [3, 3]);
    const [d1, d2] = result.batches;
    assertValues(d1.getChild('d')!, ['a', 'b', 'a', null], 'first batch');
    assertValues(d2.getChild('d')!, ['x', 'y', 'z', 'x', 'y'], 'second batch');
    // The replacement did not rewrite the batch decoded before it.
    assertValues(d1.getChild('d')!, ['a', 'b', 'a', null], 'first batch after the replacement');
    assertValues(result.decoder.dictionaries.get(3)!, ['x', 'y', 'z'], 'current dictionary');
    // The replacement dictionary message is a real (not delta) dictionary batch.
    const replacement = result.sent[3];
    assert.ok(replacement.dataHeader.byteLength > 0 && replacement.appMetadata.byteLength === 0);
  });

  test('an unchanged dictionary is sent only once', () => {
    const type = new Dictionary(new Utf8(), new Int32(), 4);
    const vector = vectorFromArray(['p', 'q', 'p', 'r', null, 'q', 'r', 'p'], type);
    const schema = new Schema([new Field('d', type, true)]);
    const whole = batchWithSchema(schema, [onlyChunk(vector)]);
    const slices = [whole.slice(0, 3), whole.slice(3, 6), whole.slice(6, 8)];
    const result = roundTrip(schema, slices);
    assert.deepEqual(kinds(result.decoded), ['schema', 'dictionary', 'batch', 'batch', 'batch']);
    assertValues(result.batches[0].getChild('d')!, ['p', 'q', 'p'], 'slice 0');
    assertValues(result.batches[1].getChild('d')!, ['r', null, 'q'], 'slice 1');
    assertValues(result.batches[2].getChild('d')!, ['r', 'p'], 'slice 2');
  });

  test('the encoder sends a dictionary per dictionary id, each once', () => {
    const t1 = new Dictionary(new Utf8(), new Int32(), 10);
    const t2 = new Dictionary(new Utf8(), new Int32(), 11);
    const v1 = vectorFromArray(['a', 'b'], t1);
    const v2 = vectorFromArray(['c', 'c'], t2);
    const schema = new Schema([new Field('d1', t1, true), new Field('d2', t2, true)]);
    const batch = batchWithSchema(schema, [onlyChunk(v1), onlyChunk(v2)]);
    const result = roundTrip(schema, [batch, batch]);
    assert.deepEqual(kinds(result.decoded), ['schema', 'dictionary', 'dictionary', 'batch', 'batch']);
    assert.deepEqual(result.decoded.flatMap((d) => (d.kind === 'dictionary' ? [d.id] : [])).sort(), [10, 11]);
    for (const b of result.batches) {
      assertValues(b.getChild('d1')!, ['a', 'b'], 'd1');
      assertValues(b.getChild('d2')!, ['c', 'c'], 'd2');
    }
  });

  /** schema, dictionary [a, b], batch [a, b, a], delta dictionary [c], batch [a, c]: decoded. */
  function streamWithDeltaDictionary() {
    const type = new Dictionary(new Utf8(), new Int32(), 6);
    const schema = new Schema([new Field('d', type, true)]);
    const encoder = new FlightDataEncoder(schema);
    const first = encoder.batchMessages(batchWithSchema(schema, [onlyChunk(vectorFromArray(['a', 'b', 'a'], type))]));
    // The delta: the dictionary message of a vector whose dictionary is [c], flagged isDelta.
    const [dictionaryC] = new FlightDataEncoder(schema).batchMessages(batchWithSchema(schema, [onlyChunk(vectorFromArray(['c'], type))]));
    const parsed = Message.decode(dictionaryC.dataHeader);
    const header = parsed.header() as DictionaryBatchHeader;
    const delta = { ...dictionaryC, dataHeader: Message.encode(Message.from(new DictionaryBatchHeader(header.data, header.id, true), parsed.bodyLength)) };
    // A batch with indices [0, 2] into [a, b, c].
    const indices = makeData({ type, length: 2, nullCount: 0, data: Int32Array.of(0, 2), dictionary: vectorFromArray(['a', 'b', 'c'], new Utf8()) });
    const second = new FlightDataEncoder(schema).batchMessages(batchWithSchema(schema, [indices])).at(-1)!;
    const result = decodeAll([encoder.schemaMessage(), ...first, delta, second]);
    assert.deepEqual(kinds(result.decoded), ['schema', 'dictionary', 'batch', 'dictionary', 'batch']);
    assertValues(result.batches[0].getChild('d')!, ['a', 'b', 'a'], 'before the delta');
    assertValues(result.batches[1].getChild('d')!, ['a', 'c'], 'after the delta');
    assertValues(result.decoder.dictionaries.get(6)!, ['a', 'b', 'c'], 'dictionary after the delta');
    return { schema, batches: result.batches };
  }

  test('a delta dictionary message extends the current dictionary', () => {
    const { batches } = streamWithDeltaDictionary();
    assert.equal(batches[1].getChild('d')!.data[0].dictionary!.length, 3);
  });

  test('re-encoding a batch decoded after a delta dictionary (fresh encoder)', {
  }, () => {
    const { schema, batches } = streamWithDeltaDictionary();
    const encoder = new FlightDataEncoder(schema);
    const again = decodeAll([encoder.schemaMessage(), ...encoder.batchMessages(batches[1])]);
    assertValues(again.batches[0].getChild('d')!, ['a', 'c'], 're-encoded');
  });

  test('re-encoding a whole stream that used a delta dictionary (one encoder)', {
  }, () => {
    const { schema, batches } = streamWithDeltaDictionary();
    const encoder = new FlightDataEncoder(schema);
    const sent = [encoder.schemaMessage(), ...encoder.batchMessages(batches[0]), ...encoder.batchMessages(batches[1])];
    assert.equal(sent.filter((m) => Message.decode(m.dataHeader).isDictionaryBatch()).length, 2, 'the grown dictionary must be sent again');
    const again = decodeAll(sent);
    assertValues(again.batches[0].getChild('d')!, ['a', 'b', 'a'], 'first');
    assertValues(again.batches[1].getChild('d')!, ['a', 'c'], 'second');
  });

  test('a schema message resets the decoder state (new schema, no dictionaries)', () => {
    const type = new Dictionary(new Utf8(), new Int32(), 5);
    const schema = new Schema([new Field('d', type, true)]);
    const batch = batchWithSchema(schema, [onlyChunk(vectorFromArray(['k'], type))]);
    const result = roundTrip(schema, [batch]);
    const decoder = new FlightDataDecoder();
    for (const message of result.received) decoder.decode(message);
    assert.equal(decoder.dictionaries.size, 1);
    decoder.decode(result.received[0]);
    assert.equal(decoder.dictionaries.size, 0);
    assert.equal(decoder.schema?.fields[0].name, 'd');
  });

  test('encodeRecordBatches yields the schema (with descriptor) and every batch', () => {
    const batch = batchOf({ v: vectorFromArray([1, 2, 3], new Int32()) });
    const messages = [...encodeRecordBatches(batch.schema, [batch, batch.slice(1)], pathDescriptor('ds'))];
    assert.equal(messages.length, 3);
    assert.deepEqual(messages[0].flightDescriptor?.path, ['ds']);
    const result = decodeAll(messages);
    assert.deepEqual(kinds(result.decoded), ['schema', 'batch', 'batch']);
    assertValues(result.batches[0].getChild('v')!, [1, 2, 3], 'first');
    assertValues(result.batches[1].getChild('v')!, [2, 3], 'second');
  });
});

describe('FlightData fields', () => {
  test('app_metadata is carried on every batch, dictionaries carry none', () => {
    const type = new Dictionary(new Utf8(), new Int32(), 8);
    const schema = new Schema([new Field('d', type, true)]);
    const batch = batchWithSchema(schema, [onlyChunk(vectorFromArray(['m', 'n'], type))]);
    const result = roundTrip(schema, [batch, batch], {
      schemaMetadata: utf8('on-schema'),
      appMetadata: (i) => utf8(`batch-${i}`),
    });
    assert.deepEqual(kinds(result.decoded), ['schema', 'dictionary', 'batch', 'batch']);
    const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');
    assert.deepEqual(result.decoded.map((d) => text(d.appMetadata)), ['on-schema', '', 'batch-0', 'batch-1']);
  });

  test('a large app_metadata (multi-byte varint length) round-trips', () => {
    const metadata = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 31) % 256);
    const batch = batchOf({ v: vectorFromArray([1], new Int32()) });
    const result = roundTrip(batch.schema, [batch], { appMetadata: () => metadata });
    const last = result.decoded.at(-1)!;
    assert.equal(last.kind, 'batch');
    assert.ok(Buffer.from(last.appMetadata).equals(Buffer.from(metadata)));
  });

  test('a PATH descriptor on the schema message is decoded', () => {
    const batch = batchOf({ v: vectorFromArray([1], new Int32()) });
    const result = roundTrip(batch.schema, [batch], { descriptor: pathDescriptor('datasets', 'embeddings') });
    const first = result.decoded[0];
    assert.ok(first.kind === 'schema');
    assert.equal(first.descriptor?.type, DescriptorType.PATH);
    assert.deepEqual(first.descriptor?.path, ['datasets', 'embeddings']);
    assert.equal(first.descriptor?.cmd.byteLength, 0);
    assert.equal(result.decoded[1].kind, 'batch');
  });

  test('a CMD descriptor on the schema message is decoded', () => {
    const batch = batchOf({ v: vectorFromArray([1], new Int32()) });
    const result = roundTrip(batch.schema, [batch], { descriptor: commandDescriptor('{"op":"append"}') });
    const first = result.decoded[0];
    assert.ok(first.kind === 'schema');
    assert.equal(first.descriptor?.type, DescriptorType.CMD);
    assert.equal(Buffer.from(first.descriptor!.cmd).toString('utf8'), '{"op":"append"}');
    assert.deepEqual(first.descriptor?.path, []);
  });

  test('without a descriptor, none is decoded', () => {
    const batch = batchOf({ v: vectorFromArray([1], new Int32()) });
    const result = roundTrip(batch.schema, [batch]);
    assert.ok(result.decoded[0].kind === 'schema');
    assert.equal(result.decoded[0].descriptor, undefined);
    assert.equal(result.received[0].flightDescriptor, undefined);
  });

  test('a metadata-only message (empty header, app_metadata) decodes as kind "metadata"', () => {
    const message: FlightData = { dataHeader: EMPTY, appMetadata: utf8('progress: 42%'), dataBody: EMPTY };
    const wire = encodeFlightData(message);
    // Only the app_metadata field is written: tag 0x1a, length, bytes.
    assert.deepEqual([...wire.subarray(0, 2)], [0x1a, 13]);
    assert.equal(wire.byteLength, 15);
    const received = decodeFlightData(wire);
    assert.equal(received.dataHeader.byteLength, 0);
    assert.equal(received.dataBody.byteLength, 0);
    const decoded = new FlightDataDecoder().decode(received);
    assert.equal(decoded.kind, 'metadata');
    assert.equal(Buffer.from(decoded.appMetadata).toString('utf8'), 'progress: 42%');
  });

  test('a metadata-only message may carry a descriptor and arrive before any schema', () => {
    const message: FlightData = { flightDescriptor: pathDescriptor('x'), dataHeader: EMPTY, appMetadata: utf8('hi'), dataBody: EMPTY };
    const decoder = new FlightDataDecoder();
    const decoded = decoder.decode(decodeFlightData(encodeFlightData(message)));
    assert.ok(decoded.kind === 'metadata');
    assert.deepEqual(decoded.descriptor?.path, ['x']);
    assert.equal(decoder.schema, null);
  });

  test('an empty FlightData encodes to zero bytes and decodes to empty fields', () => {
    const wire = encodeFlightData({ dataHeader: EMPTY, appMetadata: EMPTY, dataBody: EMPTY });
    assert.equal(wire.byteLength, 0);
    const decoded = decodeFlightData(wire);
    assert.equal(decoded.dataHeader.byteLength, 0);
    assert.equal(decoded.appMetadata.byteLength, 0);
    assert.equal(decoded.dataBody.byteLength, 0);
    assert.equal(decoded.flightDescriptor, undefined);
  });
});

describe('protobuf wire format', () => {
  const batch = batchOf({
    v: vectorFromArray([1, null, 3], new Int32()),
    s: vectorFromArray(['a', 'bc', null], new Utf8()),
  });

  test('matches protobufjs encoding of arrow.flight.protocol.FlightData', () => {
    const encoder = new FlightDataEncoder(batch.schema);
    const messages = [encoder.schemaMessage(pathDescriptor('p', 'q'), utf8('m0')), ...encoder.batchMessages(batch, utf8('m1'))];
    for (const message of messages) {
      const ours = encodeFlightData(message);
      const parsed = FlightDataProto.toObject(FlightDataProto.decode(ours), { defaults: true, enums: Number }) as Record<string, any>;
      assert.ok(Buffer.from(parsed.dataHeader).equals(Buffer.from(message.dataHeader)));
      assert.ok(Buffer.from(parsed.appMetadata).equals(Buffer.from(message.appMetadata)));
      assert.ok(Buffer.from(parsed.dataBody).equals(Buffer.from(contiguousBody(message.dataBody))));
      if (message.flightDescriptor) assert.deepEqual(parsed.flightDescriptor.path, ['p', 'q']);
      // And protobufjs' own encoding parses with our decoder.
      const theirs = FlightDataProto.encode(FlightDataProto.fromObject({
        flightDescriptor: message.flightDescriptor,
        dataHeader: message.dataHeader,
        appMetadata: message.appMetadata,
        dataBody: contiguousBody(message.dataBody),
      })).finish();
      const back = decodeFlightData(theirs);
      assert.ok(Buffer.from(back.dataHeader).equals(Buffer.from(message.dataHeader)));
      assert.ok(Buffer.from(back.appMetadata).equals(Buffer.from(message.appMetadata)));
      assert.ok(Buffer.from(back.dataBody as Uint8Array).equals(Buffer.from(contiguousBody(message.dataBody))));
      assert.deepEqual(back.flightDescriptor?.path, message.flightDescriptor?.path);
      // protobufjs writes empty proto3 bytes fields, we leave them out; with every field set the bytes are identical.
      if (!message.flightDescriptor && message.appMetadata.byteLength > 0 && message.dataBody.byteLength > 0) {
        assert.ok(ours.equals(Buffer.from(theirs)), 'byte-identical to protobufjs');
      }
    }
  });

  test('unknown fields of every wire type are skipped', () => {
    const encoder = new FlightDataEncoder(batch.schema);
    const [schemaMessage, batchMessage] = [encoder.schemaMessage(pathDescriptor('u')), ...encoder.batchMessages(batch, utf8('meta'))];
    const unknown = [
      Buffer.from([0x28, 0x96, 0x01]), // field 5, varint 150
      Buffer.from([0x31, 1, 2, 3, 4, 5, 6, 7, 8]), // field 6, fixed64
      Buffer.from([0x3a, 0x03, 9, 9, 9]), // field 7, length-delimited
      Buffer.from([0x45, 1, 2, 3, 4]), // field 8, fixed32
      Buffer.from([0xd0, 0x3e, 0x07]), // field 1002, varint
      Buffer.from([0x10, 0x01]), // field 2 (data_header) with the wrong wire type (varint): skipped
      Buffer.from([0x80, 0x80, 0x80, 0x80, 0x08, 0x00]), // field 2^28, varint 0
    ];
    for (const message of [schemaMessage, batchMessage]) {
      const plain = encodeFlightData(message);
      // Unknown fields before, between (after each known field) and after the known ones.
      const fields = splitFields(plain);
      const noisy = Buffer.concat([unknown[0], unknown[5], ...fields.flatMap((f, i) => [f, unknown[(i + 1) % unknown.length]]), unknown[6], unknown[4]]);
      const a = decodeFlightData(plain);
      const b = decodeFlightData(noisy);
      assert.ok(Buffer.from(b.dataHeader).equals(Buffer.from(a.dataHeader)));
      assert.ok(Buffer.from(b.appMetadata).equals(Buffer.from(a.appMetadata)));
      assert.ok(Buffer.from(b.dataBody as Uint8Array).equals(Buffer.from(a.dataBody as Uint8Array)));
      assert.deepEqual(b.flightDescriptor, a.flightDescriptor);
      assert.equal((b.dataBody as Uint8Array).byteOffset % 8, 0);
    }
    const decoder = new FlightDataDecoder();
    const decoded = [schemaMessage, batchMessage].map((m) => {
      const fields = splitFields(encodeFlightData(m));
      return decoder.decode(decodeFlightData(Buffer.concat([unknown[2], ...fields, unknown[1]])));
    });
    assert.ok(decoded[1].kind === 'batch');
    assertBatchEqual(decoded[1].batch, batch);
  });

  test('field order does not matter', () => {
    const encoder = new FlightDataEncoder(batch.schema);
    const [message] = encoder.batchMessages(batch, utf8('x'));
    const fields = splitFields(encodeFlightData(message));
    assert.equal(fields.length, 3);
    const reversed = decodeFlightData(Buffer.concat(fields.reverse()));
    const decoder = new FlightDataDecoder();
    decoder.decode(encoder.schemaMessage());
    const decoded = decoder.decode(reversed);
    assert.ok(decoded.kind === 'batch');
    assertBatchEqual(decoded.batch, batch);
    assert.equal(Buffer.from(decoded.appMetadata).toString(), 'x');
  });

  test('the body is written as field 1000 with a two-byte tag', () => {
    const [message] = new FlightDataEncoder(batch.schema).batchMessages(batch);
    const fields = splitFields(encodeFlightData(message));
    const bodyField = fields.at(-1)!;
    assert.deepEqual([...bodyField.subarray(0, 2)], [0xc2, 0x3e]); // (1000 << 3) | 2 = 8002
  });
});

describe('alignment', () => {
  const batch = batchOf({
    i: vectorFromArray([1, 2, 3, null, 5, 6, 7, 8, 9], new Int32()),
    l: vectorFromArray([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n], new Int64()),
    f: vectorFromArray([0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, null], new Float64()),
    s: vectorFromArray(['a', 'b', null, 'd', 'e', 'f', 'g', 'h', 'i'], new Utf8()),
  });

  for (const shift of [1, 3, 6]) {
    test(`a message at byte offset ${shift} of a larger buffer decodes to an aligned, equal body`, () => {
      const encoder = new FlightDataEncoder(batch.schema);
      const [message] = encoder.batchMessages(batch);
      const wire = encodeFlightData(message);
      const bodyLength = contiguousBody(message.dataBody).byteLength;
      const bodyStart = wire.byteLength - bodyLength;
      // Choose padding so that the body really lands misaligned inside the larger buffer.
      const big = new Uint8Array(wire.byteLength + 64);
      const base = 8 + shift;
      big.set(wire, base);
      const view = big.subarray(base, base + wire.byteLength);
      assert.equal(view.byteOffset % 8, shift % 8);
      const misaligned = (base + bodyStart) % 8 !== 0;
      const received = decodeFlightData(view);
      const body = received.dataBody as Uint8Array;
      assert.equal(body.byteOffset % 8, 0, 'body must come out 8-byte aligned');
      assert.ok(Buffer.from(body).equals(Buffer.from(contiguousBody(message.dataBody))));
      if (misaligned) assert.notEqual(body.buffer, big.buffer, 'a misaligned body is copied');
      const decoder = new FlightDataDecoder();
      decoder.decode(encoder.schemaMessage());
      const decoded = decoder.decode(received);
      assert.ok(decoded.kind === 'batch');
      assertBatchEqual(decoded.batch, batch);
      // Header and metadata are views into the input (no copy).
      assert.equal(received.dataHeader.buffer, big.buffer);
    });
  }

  test('every shift 0..15 decodes to an aligned body; only misaligned bodies are copied', () => {
    const encoder = new FlightDataEncoder(batch.schema);
    const [message] = encoder.batchMessages(batch);
    const wire = encodeFlightData(message);
    const bodyStart = wire.byteLength - contiguousBody(message.dataBody).byteLength;
    let copies = 0;
    let views = 0;
    for (let shift = 0; shift < 16; shift++) {
      const big = new Uint8Array(wire.byteLength + 16);
      big.set(wire, shift);
      const received = decodeFlightData(big.subarray(shift, shift + wire.byteLength));
      const body = received.dataBody as Uint8Array;
      assert.equal(body.byteOffset % 8, 0, `shift ${shift}`);
      if ((shift + bodyStart) % 8 === 0) {
        assert.equal(body.buffer, big.buffer, `shift ${shift}: an aligned body is not copied`);
        assert.equal(body.byteOffset, shift + bodyStart);
        views++;
      } else {
        assert.notEqual(body.buffer, big.buffer, `shift ${shift}: a misaligned body is copied`);
        copies++;
      }
      assert.ok(Buffer.from(body).equals(Buffer.from(contiguousBody(message.dataBody))));
    }
    assert.equal(views, 2);
    assert.equal(copies, 14);
  });

  test('alignTo8 returns aligned input unchanged and copies misaligned input', () => {
    const buffer = new Uint8Array(32).map((_, i) => i);
    const aligned = buffer.subarray(8, 20);
    assert.equal(alignTo8(aligned), aligned);
    const misaligned = buffer.subarray(5, 20);
    const copy = alignTo8(misaligned);
    assert.notEqual(copy.buffer, buffer.buffer);
    assert.equal(copy.byteOffset % 8, 0);
    assert.deepEqual([...copy], [...misaligned]);
    const empty = buffer.subarray(3, 3);
    assert.equal(alignTo8(empty).byteLength, 0);
  });
});

describe('sliced batches', () => {
  const n = 50;
  const columns = allTypes(n);
  const whole = batchOfColumns(columns);

  for (const [offset, length] of [[0, 50], [3, 17], [9, 1], [13, 0], [1, 49], [45, 5]]) {
    test(`slice(${offset}, ${offset + length}) of every column type encodes only the slice`, () => {
      const slice = whole.slice(offset, offset + length);
      assert.equal(slice.numRows, length);
      const { batches: [decoded] } = roundTrip(whole.schema, [slice]);
      assert.equal(decoded.numRows, length);
      assertBatchEqual(decoded, slice);
      for (const [name, column] of Object.entries(columns)) {
        if (column.values) assertValues(decoded.getChild(name)!, column.values.slice(offset, offset + length), `decoded.${name}`);
      }
      // The decoded data starts at offset 0: the slice was rebased, not shipped with the prefix.
      for (const child of decoded.data.children) assert.equal(child.offset, 0);
    });
  }

  test('a small slice of a large batch sends a small body', () => {
    const big = batchOf({ v: vectorFromArray(Array.from({ length: 100_000 }, (_, i) => i), new Int32()) });
    const [message] = new FlightDataEncoder(big.schema).batchMessages(big.slice(50_000, 50_010));
    assert.ok(message.dataBody.byteLength <= 64, `body of ${message.dataBody.byteLength} bytes for 10 int32 values`);
    const { batches: [decoded] } = roundTrip(big.schema, [big.slice(50_000, 50_010)]);
    assertValues(decoded.getChild('v')!, Array.from({ length: 10 }, (_, i) => 50_000 + i), 'v');
  });
});

describe('bodies and schemas', () => {
  test('a scattered body is laid out with zero padding between chunks', () => {
    const body: ScatteredBody = {
      byteLength: 24,
      chunks: [
        { offset: 0, bytes: Uint8Array.of(1, 2, 3) },
        { offset: 8, bytes: Uint8Array.of(4) },
        { offset: 16, bytes: Uint8Array.of(5, 6, 7, 8, 9, 10, 11, 12) },
      ],
    };
    const expected = [1, 2, 3, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 5, 6, 7, 8, 9, 10, 11, 12];
    assert.deepEqual([...contiguousBody(body)], expected);
    // Fill the pool with garbage first: encodeFlightData uses allocUnsafe and must zero padding.
    for (let i = 0; i < 64; i++) Buffer.allocUnsafe(64).fill(0xee);
    for (let i = 0; i < 16; i++) {
      const decoded = decodeFlightData(encodeFlightData({ dataHeader: Uint8Array.of(1), appMetadata: EMPTY, dataBody: body }));
      assert.deepEqual([...(decoded.dataBody as Uint8Array)], expected);
    }
    const plain = Uint8Array.of(9, 8, 7);
    assert.equal(contiguousBody(plain), plain, 'a contiguous body is returned as is');
  });

  test('flightDataParts: head + body pieces equal encodeFlightData, chunks are not copied', () => {
    const body: ScatteredBody = {
      byteLength: 32,
      chunks: [{ offset: 0, bytes: Uint8Array.of(1, 2, 3) }, { offset: 8, bytes: Uint8Array.of(4, 5, 6, 7, 8, 9, 10, 11, 12) }],
    };
    const message: FlightData = { flightDescriptor: pathDescriptor('p'), dataHeader: Uint8Array.of(9, 9), appMetadata: utf8('m'), dataBody: body };
    const parts = flightDataParts(message);
    const joined = Buffer.concat([parts.head, ...parts.body]);
    assert.equal(parts.byteLength, joined.byteLength);
    assert.ok(joined.equals(encodeFlightData(message)));
    assert.ok(parts.body.includes(body.chunks[0].bytes) && parts.body.includes(body.chunks[1].bytes), 'chunks are passed by reference');
    for (const piece of parts.body) {
      if (!body.chunks.some((c) => c.bytes === piece)) assert.ok(piece.every((b) => b === 0), 'padding pieces are zero');
    }
    const decoded = decodeFlightData(joined);
    assert.deepEqual([...(decoded.dataBody as Uint8Array)], [...contiguousBody(body)]);
    const empty = flightDataParts({ dataHeader: EMPTY, appMetadata: utf8('x'), dataBody: EMPTY });
    assert.equal(empty.body.length, 0);
    assert.equal(empty.byteLength, empty.head.byteLength);
  });

  test('encoded batch bodies equal their contiguous form, padding included', () => {
    const batch = batchOfColumns(allTypes(13));
    const encoder = new FlightDataEncoder(batch.schema);
    for (const message of encoder.batchMessages(batch)) {
      const body = message.dataBody as ScatteredBody;
      assert.equal(body.byteLength % 8, 0, 'IPC bodies are padded to 8 bytes');
      const decoded = decodeFlightData(encodeFlightData(message));
      assert.ok(Buffer.from(decoded.dataBody as Uint8Array).equals(Buffer.from(contiguousBody(body))));
    }
  });

  test('encapsulateSchema / decodeEncapsulatedSchema round-trip', () => {
    const batch = batchOfColumns(allTypes(1));
    const bytes = encapsulateSchema(batch.schema);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    assert.equal(view.getUint32(0, true), 0xffffffff, 'continuation marker');
    assert.equal(view.getInt32(4, true), bytes.byteLength - 8);
    assert.equal(bytes.byteLength % 8, 0);
    const schema = decodeEncapsulatedSchema(bytes);
    assert.deepEqual(schema.fields.map((f) => [f.name, String(f.type)]), batch.schema.fields.map((f) => [f.name, String(f.type)]));
  });

  test('decodeEncapsulatedSchema accepts the legacy form without continuation marker', () => {
    const schema = new Schema([new Field('x', new Float32(), true), new Field('y', new Utf8(), false)]);
    const header = schemaHeader(schema);
    const legacy = new Uint8Array(4 + header.byteLength);
    new DataView(legacy.buffer).setInt32(0, header.byteLength, true);
    legacy.set(header, 4);
    const decoded = decodeEncapsulatedSchema(legacy);
    assert.deepEqual(decoded.fields.map((f) => [f.name, String(f.type), f.nullable]), [['x', 'Float32', true], ['y', 'Utf8', false]]);
  });

  test('decodeEncapsulatedSchema reads a schema at an odd offset of a larger buffer', () => {
    const schema = new Schema([new Field('x', new Int64(), true)]);
    const bytes = encapsulateSchema(schema);
    const big = new Uint8Array(bytes.byteLength + 3);
    big.set(bytes, 3);
    assert.equal(decodeEncapsulatedSchema(big.subarray(3)).fields[0].name, 'x');
  });
});

describe('test helpers are not vacuous', () => {
  const base = allTypes(20);
  const batch = batchOfColumns(base);

  test('assertBatchEqual accepts an identical batch and rejects any single difference', () => {
    assertBatchEqual(batchOfColumns(allTypes(20)), batch);
    const mutations: Record<string, (columns: Record<string, Column>) => void> = {
      'one int32 value': (c) => { (c.int32.vector.data[0].values as Int32Array)[4] += 1; },
      'one validity bit': (c) => { c.int8.vector.data[0].nullBitmap![0] ^= 1; },
      'one float in a FixedSizeList': (c) => { (c.fsl_f32_128.vector.data[0].children[0].values as Float32Array)[1000] += 0.5; },
      'one utf8 byte': (c) => { c.utf8.vector.data[0].values[0] ^= 1; },
      'one dictionary index': (c) => { (c.dictionary.vector.data[0].values as Int32Array)[0] = 1; },
      'one nanosecond': (c) => { (c.timestamp_ns_utc.vector.data[0].values as BigInt64Array)[0] += 1n; },
    };
    for (const [name, mutate] of Object.entries(mutations)) {
      const columns = allTypes(20);
      mutate(columns);
      assert.throws(() => assertBatchEqual(batchOfColumns(columns), batch), assert.AssertionError, name);
    }
    assert.throws(() => assertBatchEqual(batch.slice(0, 19), batch), assert.AssertionError, 'row count');
  });

  test('assertValues compares NaN, -0 and bigints exactly', () => {
    const v = vectorFromArray([NaN, -0, 1], new Float64());
    assertValues(v, [NaN, -0, 1], 'exact');
    assert.throws(() => assertValues(v, [NaN, 0, 1], 'zero sign'), assert.AssertionError);
    const w = vectorFromArray([2n ** 63n - 1n], new Int64());
    assert.throws(() => assertValues(w, [2n ** 63n - 2n], 'bigint'), assert.AssertionError);
  });
});

/** Splits a serialized protobuf message into its top-level fields (key + payload). */
function splitFields(bytes: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  let position = 0;
  const varint = () => {
    let result = 0;
    let multiplier = 1;
    for (;;) {
      const byte = bytes[position++];
      result += (byte & 0x7f) * multiplier;
      if (byte < 0x80) return result;
      multiplier *= 128;
    }
  };
  while (position < bytes.byteLength) {
    const start = position;
    const key = varint();
    const wireType = key & 7;
    if (wireType === 2) {
      const length = varint();
      position += length;
    }
    else if (wireType === 0) varint();
    else if (wireType === 1) position += 8;
    else if (wireType === 5) position += 4;
    else throw new Error(`wire type ${wireType}`);
    out.push(Buffer.from(bytes.subarray(start, position)));
  }
  return out;
}
