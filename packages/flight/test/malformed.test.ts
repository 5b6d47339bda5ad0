/**
 * Every malformed-input path must raise FlightError(INVALID_ARGUMENT) with a message starting
 * `malformed FlightData:` (UNIMPLEMENTED for compressed bodies), never a raw TypeError/RangeError
 * and never a silently wrong batch.
 *
 * Bad messages are built by hand: protobuf bytes written directly, IPC headers built with
 * apache-arrow's metadata classes (or the generated flatbuffers classes when the metadata
 * classes cannot express the defect). Each case first decodes a valid twin built the same
 * way, so a test cannot pass just because the construction itself is broken.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Builder } from 'flatbuffers';
import {
  Dictionary, Field, FixedSizeList, Float32, Int32, LargeUtf8, List, MessageHeader, MetadataVersion, Schema, Struct,
  Utf8, Bool, vectorFromArray, Int64, Binary,
} from 'apache-arrow';
import {
  BodyCompression, BufferRegion, DictionaryBatch as DictionaryBatchHeader, FieldNode, Message,
  RecordBatch as RecordBatchHeader,
} from 'apache-arrow/ipc/metadata/message';
import { Message as FbMessage } from 'apache-arrow/fb/message';
import { Schema as FbSchema } from 'apache-arrow/fb/schema';
import { Field as FbField } from 'apache-arrow/fb/field';
import { List as FbList } from 'apache-arrow/fb/list';
import { FixedSizeList as FbFixedSizeList } from 'apache-arrow/fb/fixed-size-list';
import { Int as FbInt } from 'apache-arrow/fb/int';
import { DictionaryBatch as FbDictionaryBatch } from 'apache-arrow/fb/dictionary-batch';
import { RecordBatch as FbRecordBatch } from 'apache-arrow/fb/record-batch';
import { Type as FbType } from 'apache-arrow/fb/type';
import { ByteBuffer } from 'flatbuffers';
import {
  contiguousBody, decodeEncapsulatedSchema, decodeFlightData, encapsulateSchema, encodeFlightData, FlightDataDecoder,
  FlightDataEncoder, FlightError, GrpcStatus, schemaHeader, type DecodedFlightData, type FlightData,
} from '../src/index.ts';
import { batchOf, EMPTY, prng } from './helpers.ts';

// ---------------------------------------------------------------------------------------------
// Assertions

function checkMalformed(error: unknown, fragment?: string | RegExp, code: GrpcStatus = GrpcStatus.INVALID_ARGUMENT): true {
  if (!(error instanceof FlightError)) {
    assert.fail(`expected a FlightError, got ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`);
  }
  assert.equal(error.code, code, `status code of "${error.message}"`);
  if (code === GrpcStatus.INVALID_ARGUMENT) {
    assert.ok(error.message.startsWith('malformed FlightData: '), `message "${error.message}" must start with "malformed FlightData: "`);
    assert.equal(error.errorCode, 'MALFORMED_FLIGHT_DATA');
  }
  if (typeof fragment === 'string') assert.ok(error.message.includes(fragment), `message "${error.message}" should mention "${fragment}"`);
  else if (fragment) assert.match(error.message, fragment);
  return true;
}

function expectMalformed(fn: () => unknown, fragment?: string | RegExp): void {
  assert.throws(fn, (error) => checkMalformed(error, fragment));
}

// ---------------------------------------------------------------------------------------------
// Message construction

const message = (dataHeader: Uint8Array, dataBody: Uint8Array = EMPTY, appMetadata: Uint8Array = EMPTY): FlightData =>
  ({ dataHeader, appMetadata, dataBody });

/** Lays out buffers as an IPC body: each padded to 8 bytes. Returns the body and the regions. */
function layout(...parts: (ArrayBufferView | null)[]): { body: Uint8Array; regions: [number, number][] } {
  const regions: [number, number][] = [];
  let offset = 0;
  for (const part of parts) {
    const length = part ? part.byteLength : 0;
    regions.push([offset, length]);
    offset += (length + 7) & ~7;
  }
  const body = new Uint8Array(offset);
  parts.forEach((part, i) => {
    if (part) body.set(new Uint8Array(part.buffer, part.byteOffset, part.byteLength), regions[i][0]);
  });
  return { body, regions };
}

function recordBatchHeader(length: number, nodes: [number, number][], regions: [number, number][], bodyLength: number,
  compression: BodyCompression | null = null): Uint8Array {
  const header = new RecordBatchHeader(length, nodes.map(([l, n]) => new FieldNode(l, n)),
    regions.map(([o, l]) => new BufferRegion(o, l)), compression);
  return Message.encode(Message.from(header, bodyLength));
}

function dictionaryHeader(id: number, length: number, nodes: [number, number][], regions: [number, number][],
  bodyLength: number, isDelta = false): Uint8Array {
  const data = new RecordBatchHeader(length, nodes.map(([l, n]) => new FieldNode(l, n)),
    regions.map(([o, l]) => new BufferRegion(o, l)), null);
  return Message.encode(Message.from(new DictionaryBatchHeader(data, id, isDelta), bodyLength));
}

/** A record batch message from nodes and buffers (regions computed, bodyLength = body size). */
function batchMessage(length: number, nodes: [number, number][], ...parts: (ArrayBufferView | null)[]): FlightData {
  const { body, regions } = layout(...parts);
  return message(recordBatchHeader(length, nodes, regions, body.byteLength), body);
}

function schemaMessage(...fields: Field[]): FlightData {
  return message(schemaHeader(new Schema(fields)));
}

/** Decodes every message with one decoder and returns the last result. */
function decodeStream(...messages: FlightData[]): DecodedFlightData {
  const decoder = new FlightDataDecoder();
  let last: DecodedFlightData | undefined;
  for (const m of messages) last = decoder.decode(m);
  return last!;
}

function decodedBatch(...messages: FlightData[]) {
  const result = decodeStream(...messages);
  assert.equal(result.kind, 'batch');
  return (result as Extract<DecodedFlightData, { kind: 'batch' }>).batch;
}

const i32 = (...values: number[]) => Int32Array.from(values);
const i64 = (...values: bigint[]) => BigInt64Array.from(values);
const text = (value: string) => new TextEncoder().encode(value);
const bits = (...valid: number[]) => Uint8Array.of(valid.reduce((acc, v, i) => acc | (v ? 1 << i : 0), 0));

/** Generated-flatbuffers Message around an already built header table. */
function finishMessage(builder: Builder, headerType: MessageHeader, header: number, bodyLength = 0n): Uint8Array {
  FbMessage.startMessage(builder);
  FbMessage.addVersion(builder, MetadataVersion.V5);
  FbMessage.addHeaderType(builder, headerType);
  FbMessage.addHeader(builder, header);
  FbMessage.addBodyLength(builder, bodyLength);
  FbMessage.finishMessageBuffer(builder, FbMessage.endMessage(builder));
  return builder.asUint8Array();
}

/** A schema with one field whose type table and child list are written by hand. */
function handWrittenSchema(typeType: number, writeType: (b: Builder) => number, children: 'none' | 'int32' = 'none'): Uint8Array {
  const b = new Builder();
  const childOffsets: number[] = [];
  if (children === 'int32') {
    const childName = b.createString('item');
    const intType = FbInt.createInt(b, 32, true);
    const empty = FbField.createChildrenVector(b, []);
    FbField.startField(b);
    FbField.addName(b, childName);
    FbField.addNullable(b, true);
    FbField.addTypeType(b, FbType.Int);
    FbField.addType(b, intType);
    FbField.addChildren(b, empty);
    childOffsets.push(FbField.endField(b));
  }
  const name = b.createString('c');
  const type = writeType(b);
  const childVector = FbField.createChildrenVector(b, childOffsets);
  FbField.startField(b);
  FbField.addName(b, name);
  FbField.addNullable(b, true);
  FbField.addTypeType(b, typeType);
  FbField.addType(b, type);
  FbField.addChildren(b, childVector);
  const field = FbField.endField(b);
  const fields = FbSchema.createFieldsVector(b, [field]);
  FbSchema.startSchema(b);
  FbSchema.addFields(b, fields);
  return finishMessage(b, MessageHeader.Schema, FbSchema.endSchema(b));
}

/** Finds a little-endian int64 in `bytes` and overwrites it (headers are tiny: the pattern is unique). */
function patchInt64(bytes: Uint8Array, from: bigint, to: bigint): Uint8Array {
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  let found = -1;
  for (let i = 0; i + 8 <= out.byteLength; i++) {
    if (view.getBigInt64(i, true) === from) {
      assert.equal(found, -1, 'pattern must be unique');
      found = i;
    }
  }
  assert.notEqual(found, -1, 'pattern not found');
  view.setBigInt64(found, to, true);
  return out;
}

// ---------------------------------------------------------------------------------------------

describe('protobuf layer (decodeFlightData)', () => {
  const cases: [string, number[], string | RegExp][] = [
    ['empty key varint continuation', [0x80], 'truncated varint'],
    ['two-byte body tag cut after its first byte', [0xc2], 'truncated varint'],
    ['data_header tag without a length', [0x12], 'truncated varint'],
    ['data_header length varint cut short', [0x12, 0x80], 'truncated varint'],
    ['data_body tag without a length', [0xc2, 0x3e], 'truncated varint'],
    ['data_body length varint cut short', [0xc2, 0x3e, 0xff, 0xff], 'truncated varint'],
    ['unknown varint field without its value', [0x28], 'truncated varint'],
    ['unknown varint field cut short', [0x28, 0x96], 'truncated varint'],
    ['varint longer than 10 bytes', [0x12, ...Array(10).fill(0x80), 0x01], 'varint longer than 10 bytes'],
    ['varint above 2^53', [0x12, ...Array(9).fill(0x80), 0x01], 'varint out of range'],
    ['data_header length past the end', [0x12, 0x05, 1, 2, 3], /field of 5 bytes runs past the end/],
    ['app_metadata length past the end', [0x1a, 0x01], /runs past the end/],
    ['data_body length past the end', [0xc2, 0x3e, 0x10, 1, 2, 3, 4], /field of 16 bytes runs past the end/],
    ['huge length past the end', [0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 1], /runs past the end/],
    ['unknown length-delimited field past the end', [0x3a, 0x04, 1], /runs past the end/],
    ['truncated fixed64', [0x31, 1, 2, 3], 'truncated field'],
    ['truncated fixed32', [0x45, 1], 'truncated field'],
    ['wire type 3 (start group)', [0x1b], 'unsupported wire type 3'],
    ['wire type 4 (end group)', [0x1c], 'unsupported wire type 4'],
    ['wire type 6', [0x1e], 'unsupported wire type 6'],
    ['wire type 7', [0x1f], 'unsupported wire type 7'],
    ['flight_descriptor that is not a FlightDescriptor', [0x0a, 0x02, 0xff, 0xff], 'bad flight_descriptor'],
    ['flight_descriptor with a path past its end', [0x0a, 0x02, 0x1a, 0x05], 'bad flight_descriptor'],
  ];
  for (const [name, bytes, fragment] of cases) {
    test(name, () => expectMalformed(() => decodeFlightData(Uint8Array.from(bytes)), fragment));
  }

  test('a valid message followed by a truncated field is rejected', () => {
    const valid = encodeFlightData(message(Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5), text('m')));
    assert.equal(decodeFlightData(valid).dataHeader.byteLength, 3);
    expectMalformed(() => decodeFlightData(Buffer.concat([valid, Buffer.from([0x12, 0x09, 0])])), 'runs past the end');
  });

  test('every truncation of a real batch message is rejected or decodes to fewer fields', () => {
    const batch = batchOf({ v: vectorFromArray([1, 2, 3, null], new Int32()), s: vectorFromArray(['a', null, 'ccc', 'd'], new Utf8()) });
    const encoder = new FlightDataEncoder(batch.schema);
    const schema = encoder.schemaMessage();
    const [full] = encoder.batchMessages(batch, text('meta'));
    const wire = encodeFlightData(full);
    let rejected = 0;
    for (let cut = 1; cut < wire.byteLength; cut++) {
      const decoder = new FlightDataDecoder();
      decoder.decode(schema);
      try {
        const parsed = decodeFlightData(wire.subarray(0, cut));
        // A cut on a field boundary is a valid, shorter message: it must still not decode to a batch
        // unless its body is complete.
        const decoded = decoder.decode(parsed);
        assert.fail(`cut at ${cut} decoded to ${decoded.kind}`);
      } catch (error) {
        if (error instanceof assert.AssertionError) throw error;
        checkMalformed(error);
        rejected++;
      }
    }
    assert.equal(rejected, wire.byteLength - 1);
  });
});

describe('IPC layer (FlightDataDecoder)', () => {
  const int32Field = new Field('v', new Int32(), true);

  test('garbage data_header', () => {
    const garbage = [
      Uint8Array.of(1, 2, 3),
      text('this is not a flatbuffer message at all'),
      new Uint8Array(64).fill(0xff),
      new Uint8Array(64),
    ];
    for (const header of garbage) {
      expectMalformed(() => decodeStream(message(header)));
      expectMalformed(() => decodeStream(schemaMessage(int32Field), message(header)));
    }
  });

  test('a message type other than schema, dictionary and record batch (Tensor)', () => {
    const b = new Builder();
    FbList.startList(b);
    const table = FbList.endList(b);
    const header = finishMessage(b, MessageHeader.Tensor, table);
    expectMalformed(() => decodeStream(schemaMessage(int32Field), message(header)), 'unsupported IPC message type Tensor');
  });

  test('a record batch before any schema', () => {
    const valid = batchMessage(2, [[2, 0]], null, i32(7, 8));
    assert.deepEqual(decodedBatch(schemaMessage(int32Field), valid).getChild('v')!.toArray(), i32(7, 8));
    expectMalformed(() => decodeStream(valid), 'record batch or dictionary before the schema');
  });

  test('a dictionary batch before any schema', () => {
    const { body, regions } = layout(null, i32(0, 1), text('a'));
    expectMalformed(() => decodeStream(message(dictionaryHeader(0, 1, [[1, 0]], regions, body.byteLength), body)), 'before the schema');
  });

  test('body shorter than the header announces', () => {
    const valid = batchMessage(4, [[4, 0]], null, i32(1, 2, 3, 4));
    assert.equal(decodedBatch(schemaMessage(int32Field), valid).numRows, 4);
    const body = valid.dataBody as Uint8Array;
    expectMalformed(() => decodeStream(schemaMessage(int32Field), { ...valid, dataBody: body.subarray(0, 8) }),
      'header announces a 16-byte body, got 8 bytes');
    expectMalformed(() => decodeStream(schemaMessage(int32Field), { ...valid, dataBody: EMPTY }), 'got 0 bytes');
  });

  test('body shorter than announced, through the protobuf layer', () => {
    const batch = batchOf({ v: vectorFromArray(Array.from({ length: 100 }, (_, i) => i), new Int32()) });
    const encoder = new FlightDataEncoder(batch.schema);
    const [full] = encoder.batchMessages(batch);
    const body = contiguousBody(full.dataBody);
    const short = decodeFlightData(encodeFlightData({ ...full, dataBody: body.subarray(0, body.byteLength - 8) }));
    const decoder = new FlightDataDecoder();
    decoder.decode(encoder.schemaMessage());
    expectMalformed(() => decoder.decode(short), /header announces a \d+-byte body/);
  });

  test('a buffer region outside the body', () => {
    const values = i32(1, 2, 3);
    const { body, regions } = layout(null, values);
    const ok = message(recordBatchHeader(3, [[3, 0]], regions, body.byteLength), body);
    assert.equal(decodedBatch(schemaMessage(int32Field), ok).numRows, 3);
    for (const region of [[64, 12], [8, 12], [0, 17], [-8, 12], [2 ** 52, 2 ** 52]] as [number, number][]) {
      const header = recordBatchHeader(3, [[3, 0]], [[0, 0], region], body.byteLength);
      expectMalformed(() => decodeStream(schemaMessage(int32Field), message(header, body)), 'lies outside the 16-byte body');
    }
  });

  test('a validity bitmap region outside the body', () => {
    const { body } = layout(null, i32(1, 2, 3));
    const header = recordBatchHeader(3, [[3, 1]], [[32, 1], [0, 12]], body.byteLength);
    expectMalformed(() => decodeStream(schemaMessage(int32Field), message(header, body)), 'lies outside');
  });

  test('a column whose length differs from the batch length', () => {
    expectMalformed(() => decodeStream(schemaMessage(int32Field), batchMessage(3, [[2, 0]], null, i32(1, 2, 3))),
      'Int32 column has 2 values where 3 were expected');
  });

  test('a negative batch length', () => {
    expectMalformed(() => decodeStream(schemaMessage(int32Field), batchMessage(-1, [[-1, 0]], null, null)), /-1 were expected/);
  });

  test('fixed-width values shorter than the column', () => {
    const valid = batchMessage(3, [[3, 0]], null, i32(1, 2, 3));
    assert.equal(decodedBatch(schemaMessage(int32Field), valid).numRows, 3);
    expectMalformed(() => decodeStream(schemaMessage(int32Field), batchMessage(10, [[10, 0]], null, i32(1, 2, 3))),
      'Int32 column values are too short');
    const int64Field = new Field('w', new Int64(), true);
    expectMalformed(() => decodeStream(schemaMessage(int64Field), batchMessage(2, [[2, 0]], null, i32(1, 2))),
      'Int64 column values are too short');
  });

  test('bool values shorter than the column', () => {
    const boolField = new Field('b', new Bool(), true);
    assert.deepEqual([...decodedBatch(schemaMessage(boolField), batchMessage(8, [[8, 0]], null, Uint8Array.of(0b10101010))).getChild('b')!],
      [false, true, false, true, false, true, false, true]);
    expectMalformed(() => decodeStream(schemaMessage(boolField), batchMessage(9, [[9, 0]], null, Uint8Array.of(0xff))),
      'bool column values are too short');
  });

  test('a validity bitmap shorter than the column', () => {
    const valid = batchMessage(3, [[3, 1]], bits(1, 0, 1), i32(1, 2, 3));
    assert.deepEqual([...decodedBatch(schemaMessage(int32Field), valid).getChild('v')!], [1, null, 3]);
    expectMalformed(() => decodeStream(schemaMessage(int32Field), batchMessage(3, [[3, 1]], null, i32(1, 2, 3))),
      'validity bitmap is too short');
    expectMalformed(() => decodeStream(schemaMessage(int32Field), batchMessage(9, [[9, 1]], bits(1, 0, 1), new Int32Array(9))),
      'validity bitmap is too short');
  });

  test('fewer field nodes or buffers than the schema needs', () => {
    const two = [int32Field, new Field('w', new Int32(), true)];
    const valid = batchMessage(1, [[1, 0], [1, 0]], null, i32(1), null, i32(2));
    assert.equal(decodedBatch(schemaMessage(...two), valid).numCols, 2);
    expectMalformed(() => decodeStream(schemaMessage(...two), batchMessage(1, [[1, 0]], null, i32(1), null, i32(2))),
      'record batch does not match the schema');
    expectMalformed(() => decodeStream(schemaMessage(...two), batchMessage(1, [[1, 0], [1, 0]], null, i32(1))),
      'record batch does not match the schema');
  });

  describe('variable-size offsets', () => {
    const utf8Field = new Field('s', new Utf8(), true);
    const values = text('abcdef');

    test('valid utf8 control', () => {
      const batch = decodedBatch(schemaMessage(utf8Field), batchMessage(3, [[3, 0]], null, i32(0, 2, 4, 6), values));
      assert.deepEqual([...batch.getChild('s')!], ['ab', 'cd', 'ef']);
    });

    test('utf8 offsets decreasing', () => {
      expectMalformed(() => decodeStream(schemaMessage(utf8Field), batchMessage(3, [[3, 0]], null, i32(0, 4, 2, 6), values)),
        'Utf8 column has decreasing offsets');
    });

    test('utf8 offsets pointing past the values', () => {
      expectMalformed(() => decodeStream(schemaMessage(utf8Field), batchMessage(3, [[3, 0]], null, i32(0, 2, 4, 9), values)),
        'Utf8 column offsets point past its values');
    });

    test('utf8 negative first offset', () => {
      expectMalformed(() => decodeStream(schemaMessage(utf8Field), batchMessage(3, [[3, 0]], null, i32(-1, 2, 4, 6), values)),
        'Utf8 column has a negative offset');
    });

    test('utf8 with too few offsets', () => {
      expectMalformed(() => decodeStream(schemaMessage(utf8Field), batchMessage(3, [[3, 0]], null, i32(0, 2, 4), values)),
        'Utf8 column has too few offsets');
    });

    test('utf8 decreasing offsets under a null slot are still rejected', () => {
      expectMalformed(() => decodeStream(schemaMessage(utf8Field), batchMessage(3, [[3, 1]], bits(1, 0, 1), i32(0, 4, 2, 6), values)),
        'decreasing offsets');
    });

    test('large utf8 offsets decreasing / past the values', () => {
      const field = new Field('s', new LargeUtf8(), true);
      const valid = decodedBatch(schemaMessage(field), batchMessage(3, [[3, 0]], null, i64(0n, 2n, 4n, 6n), values));
      assert.deepEqual([...valid.getChild('s')!], ['ab', 'cd', 'ef']);
      expectMalformed(() => decodeStream(schemaMessage(field), batchMessage(3, [[3, 0]], null, i64(0n, 4n, 2n, 6n), values)),
        'LargeUtf8 column has decreasing offsets');
      expectMalformed(() => decodeStream(schemaMessage(field), batchMessage(3, [[3, 0]], null, i64(0n, 2n, 4n, 7n), values)),
        'LargeUtf8 column offsets point past its values');
    });

    test('binary offsets past the values', () => {
      const field = new Field('b', new Binary(), true);
      expectMalformed(() => decodeStream(schemaMessage(field), batchMessage(2, [[2, 0]], null, i32(0, 3, 100), Uint8Array.of(1, 2, 3, 4))),
        'Binary column offsets point past its values');
    });

    test('list offsets decreasing / past the child', () => {
      const field = new Field('l', new List(new Field('item', new Int32(), true)), true);
      const valid = decodedBatch(schemaMessage(field), batchMessage(2, [[2, 0], [4, 0]], null, i32(0, 3, 4), null, i32(1, 2, 3, 4)));
      assert.deepEqual([...valid.getChild('l')!.get(0)!], [1, 2, 3]);
      expectMalformed(() => decodeStream(schemaMessage(field), batchMessage(2, [[2, 0], [4, 0]], null, i32(0, 3, 1), null, i32(1, 2, 3, 4))),
        'decreasing offsets');
      expectMalformed(() => decodeStream(schemaMessage(field), batchMessage(2, [[2, 0], [4, 0]], null, i32(0, 3, 5), null, i32(1, 2, 3, 4))),
        'offsets point past its values');
    });

    test('list child values shorter than the child node', () => {
      const field = new Field('l', new List(new Field('item', new Int32(), true)), true);
      expectMalformed(() => decodeStream(schemaMessage(field), batchMessage(2, [[2, 0], [4, 0]], null, i32(0, 3, 4), null, i32(1, 2))),
        'Int32 column values are too short');
    });
  });

  describe('nested types', () => {
    test('FixedSizeList child too short', () => {
      const field = new Field('f', new FixedSizeList(4, new Field('item', new Float32(), true)), true);
      const values = Float32Array.from({ length: 12 }, (_, i) => i);
      const valid = decodedBatch(schemaMessage(field), batchMessage(3, [[3, 0], [12, 0]], null, null, values));
      assert.deepEqual([...valid.getChild('f')!.get(2)!], [8, 9, 10, 11]);
      // Child node says 8 values (its buffer holds them), but 3 lists of 4 need 12.
      expectMalformed(() => decodeStream(schemaMessage(field), batchMessage(3, [[3, 0], [8, 0]], null, null, values.subarray(0, 8))),
        'FixedSizeList[4]<Float32> column child has too few values');
      // Child node claims 12 values but its buffer holds 8.
      expectMalformed(() => decodeStream(schemaMessage(field), batchMessage(3, [[3, 0], [12, 0]], null, null, values.subarray(0, 8))),
        'Float32 column values are too short');
    });

    test('struct child shorter than the struct', () => {
      const field = new Field('s', new Struct([new Field('a', new Int32(), true)]), true);
      const valid = decodedBatch(schemaMessage(field), batchMessage(3, [[3, 0], [3, 0]], null, null, i32(1, 2, 3)));
      assert.deepEqual(valid.getChild('s')!.get(1)!.toJSON(), { a: 2 });
      expectMalformed(() => decodeStream(schemaMessage(field), batchMessage(3, [[3, 0], [2, 0]], null, null, i32(1, 2))),
        'column child is too short');
    });
  });

  describe('dictionaries', () => {
    const type = new Dictionary(new Utf8(), new Int32(), 0);
    const field = new Field('d', type, true);
    /** Dictionary id 0 with the given words. */
    function dictionaryMessage(words: string[], id = 0, isDelta = false): FlightData {
      const offsets = new Int32Array(words.length + 1);
      words.forEach((w, i) => { offsets[i + 1] = offsets[i] + text(w).byteLength; });
      const { body, regions } = layout(null, offsets, text(words.join('')));
      return message(dictionaryHeader(id, words.length, [[words.length, 0]], regions, body.byteLength, isDelta), body);
    }

    test('valid control: indices into the dictionary', () => {
      const batch = decodedBatch(schemaMessage(field), dictionaryMessage(['a', 'b']), batchMessage(3, [[3, 0]], null, i32(1, 0, 1)));
      assert.deepEqual([...batch.getChild('d')!], ['b', 'a', 'b']);
    });

    test('dictionary index out of range', () => {
      expectMalformed(() => decodeStream(schemaMessage(field), dictionaryMessage(['a', 'b']), batchMessage(2, [[2, 0]], null, i32(0, 5))),
        'dictionary index 5 is out of range (dictionary has 2 entries)');
      expectMalformed(() => decodeStream(schemaMessage(field), dictionaryMessage(['a', 'b']), batchMessage(2, [[2, 0]], null, i32(2, 0))),
        'dictionary index 2 is out of range');
    });

    test('negative dictionary index', () => {
      expectMalformed(() => decodeStream(schemaMessage(field), dictionaryMessage(['a', 'b']), batchMessage(2, [[2, 0]], null, i32(0, -1))),
        'dictionary index -1 is out of range');
    });

    test('an out-of-range index under a null slot is accepted', () => {
      const batch = decodedBatch(schemaMessage(field), dictionaryMessage(['a', 'b']), batchMessage(2, [[2, 1]], bits(1, 0), i32(1, 99)));
      assert.deepEqual([...batch.getChild('d')!], ['b', null]);
    });

    test('a delta dictionary extends the range of valid indices', () => {
      const batch = decodedBatch(schemaMessage(field), dictionaryMessage(['a', 'b']), dictionaryMessage(['c'], 0, true),
        batchMessage(2, [[2, 0]], null, i32(2, 0)));
      assert.deepEqual([...batch.getChild('d')!], ['c', 'a']);
      expectMalformed(() => decodeStream(schemaMessage(field), dictionaryMessage(['a', 'b']), dictionaryMessage(['c'], 0, true),
        batchMessage(1, [[1, 0]], null, i32(3))), 'dictionary index 3 is out of range (dictionary has 3 entries)');
    });

    test('a replacement dictionary shrinks the range of valid indices', () => {
      expectMalformed(() => decodeStream(schemaMessage(field), dictionaryMessage(['a', 'b', 'c']), dictionaryMessage(['z']),
        batchMessage(1, [[1, 0]], null, i32(2))), 'dictionary index 2 is out of range (dictionary has 1 entries)');
    });

    test('a dictionary-encoded column before its dictionary', () => {
      // apache-arrow gives the column an empty dictionary, so either check may fire.
      expectMalformed(() => decodeStream(schemaMessage(field), batchMessage(2, [[2, 0]], null, i32(0, 0))),
        /arrived before its dictionary|dictionary index 0 is out of range \(dictionary has 0 entries\)/);
    });

    test('a dictionary batch for an unknown dictionary id', () => {
      expectMalformed(() => decodeStream(schemaMessage(field), dictionaryMessage(['a'], 42)), 'dictionary batch for unknown dictionary id 42');
    });

    test('a dictionary whose values are themselves malformed', () => {
      const offsets = i32(0, 3, 1);
      const { body, regions } = layout(null, offsets, text('abc'));
      const bad = message(dictionaryHeader(0, 2, [[2, 0]], regions, body.byteLength), body);
      expectMalformed(() => decodeStream(schemaMessage(field), bad), 'Utf8 column has decreasing offsets');
    });

    test('a dictionary body shorter than announced', () => {
      const valid = dictionaryMessage(['abc', 'def']);
      expectMalformed(() => decodeStream(schemaMessage(field), { ...valid, dataBody: (valid.dataBody as Uint8Array).subarray(0, 8) }),
        'header announces');
    });

    test('indices shorter than the column', () => {
      expectMalformed(() => decodeStream(schemaMessage(field), dictionaryMessage(['a']), batchMessage(4, [[4, 0]], null, i32(0, 0))),
        /too short/);
    });
  });

  // Regression test: ipc.ts at a3b8579 checked Message.compression, which apache-arrow never
  // fills in on decoded messages, so compressed bodies were read as if uncompressed.
  test('a compressed record batch body is refused as UNIMPLEMENTED', () => {
    const { body, regions } = layout(null, i32(1, 2, 3));
    const header = recordBatchHeader(3, [[3, 0]], regions, body.byteLength, new BodyCompression(0 /* LZ4_FRAME */));
    // The header really carries the compression (decoded through apache-arrow).
    const decodedHeader = Message.decode(header).header() as RecordBatchHeader;
    assert.equal(decodedHeader.compression?.type, 0);
    assert.throws(() => decodeStream(schemaMessage(new Field('v', new Int32(), true)), message(header, body)),
      (error) => checkMalformed(error, 'compressed IPC bodies are not supported', GrpcStatus.UNIMPLEMENTED));
    // Control: the same header without compression decodes.
    const plain = recordBatchHeader(3, [[3, 0]], regions, body.byteLength);
    assert.equal(decodedBatch(schemaMessage(new Field('v', new Int32(), true)), message(plain, body)).numRows, 3);
  });

  test('a compressed dictionary batch body is refused as UNIMPLEMENTED', () => {
    const field = new Field('d', new Dictionary(new Utf8(), new Int32(), 0), true);
    const { body, regions } = layout(null, i32(0, 1), text('a'));
    const data = new RecordBatchHeader(1, [new FieldNode(1, 0)], regions.map(([o, l]) => new BufferRegion(o, l)),
      new BodyCompression(1 /* ZSTD */));
    const header = Message.encode(Message.from(new DictionaryBatchHeader(data, 0, false), body.byteLength));
    assert.throws(() => decodeStream(schemaMessage(field), message(header, body)),
      (error) => checkMalformed(error, 'compressed IPC bodies are not supported', GrpcStatus.UNIMPLEMENTED));
  });

  test('a null count larger than the column length is rejected', {
  }, () => {
    expectMalformed(() => decodeStream(schemaMessage(new Field('v', new Int32(), true)),
      batchMessage(2, [[2, 5]], Uint8Array.of(0), i32(1, 2))), /null/);
  });
});

describe('headers whose lazy decoding fails inside apache-arrow', () => {
  // Message.decode only reads the envelope; message.header() decodes the rest lazily, and
  // ipc.ts calls it outside the try/catch that turns errors into FlightError.

  test('a schema field of an unknown type id', () => {
    const header = handWrittenSchema(99, (b) => { FbList.startList(b); return FbList.endList(b); });
    assert.equal(Message.decode(header).headerType, MessageHeader.Schema);
    expectMalformed(() => decodeStream(message(header)));
  });

  test('a dictionary batch without its data table', () => {
    const b = new Builder();
    FbDictionaryBatch.startDictionaryBatch(b);
    FbDictionaryBatch.addId(b, 0n);
    const header = finishMessage(b, MessageHeader.DictionaryBatch, FbDictionaryBatch.endDictionaryBatch(b));
    const field = new Field('d', new Dictionary(new Utf8(), new Int32(), 0), true);
    expectMalformed(() => decodeStream(schemaMessage(field), message(header)));
  });

  test('a field node length that is not a safe integer', () => {
    const { body, regions } = layout(null, i32(1));
    const header = recordBatchHeader(1, [[0x31415926, 0]], regions, body.byteLength);
    const field = new Field('v', new Int32(), true);
    // Control: the unpatched header is understood (and rejected for its length mismatch).
    expectMalformed(() => decodeStream(schemaMessage(field), message(header, body)), 'values where 1 were expected');
    const patched = patchInt64(header, 0x31415926n, 2n ** 60n);
    expectMalformed(() => decodeStream(schemaMessage(field), message(patched, body)));
  });

  test('a buffer offset that is not a safe integer', () => {
    const body = new Uint8Array(8);
    const header = recordBatchHeader(1, [[1, 0]], [[0, 0], [0x27182818, 4]], 8);
    const field = new Field('v', new Int32(), true);
    expectMalformed(() => decodeStream(schemaMessage(field), message(header, body)), 'lies outside');
    const patched = patchInt64(header, 0x27182818n, -(2n ** 62n));
    expectMalformed(() => decodeStream(schemaMessage(field), message(patched, body)));
  });

  test('decodeEncapsulatedSchema of a schema with an unknown type id', () => {
    const header = handWrittenSchema(99, (b) => { FbList.startList(b); return FbList.endList(b); });
    const padded = (header.byteLength + 7) & ~7;
    const bytes = new Uint8Array(8 + padded);
    new DataView(bytes.buffer).setUint32(0, 0xffffffff, true);
    new DataView(bytes.buffer).setInt32(4, padded, true);
    bytes.set(header, 8);
    expectMalformed(() => decodeEncapsulatedSchema(bytes));
  });
});

describe('schema fields without the child their type needs', () => {

  test('control: a hand-written List<Int32> schema with its child decodes', () => {
    const header = handWrittenSchema(FbType.List, (b) => { FbList.startList(b); return FbList.endList(b); }, 'int32');
    const batch = decodedBatch(message(header), batchMessage(1, [[1, 0], [2, 0]], null, i32(0, 2), null, i32(5, 6)));
    assert.deepEqual([...batch.getChild('c')!.get(0)!], [5, 6]);
  });

  test('List without a child field', () => {
    const header = handWrittenSchema(FbType.List, (b) => { FbList.startList(b); return FbList.endList(b); });
    expectMalformed(() => decodeStream(message(header), batchMessage(1, [[1, 0]], null, i32(0, 0))));
  });

  test('FixedSizeList without a child field', () => {
    const header = handWrittenSchema(FbType.FixedSizeList, (b) => FbFixedSizeList.createFixedSizeList(b, 2));
    expectMalformed(() => decodeStream(message(header), batchMessage(1, [[1, 0]], null)));
  });
});

describe('decodeEncapsulatedSchema', () => {
  const schema = new Schema([new Field('x', new Int32(), true)]);

  test('shorter than its prefix', () => {
    expectMalformed(() => decodeEncapsulatedSchema(Uint8Array.of(0xff, 0xff, 0xff)), 'shorter than its prefix');
  });

  test('length past the end', () => {
    const bytes = encapsulateSchema(schema);
    expectMalformed(() => decodeEncapsulatedSchema(bytes.subarray(0, bytes.byteLength - 8)), 'schema length runs past the end');
  });

  test('negative length', () => {
    const bytes = new Uint8Array(encapsulateSchema(schema));
    new DataView(bytes.buffer).setInt32(4, -16, true);
    expectMalformed(() => decodeEncapsulatedSchema(bytes), 'schema length runs past the end');
  });

  test('a record batch message where a schema is expected', () => {
    const header = recordBatchHeader(0, [[0, 0]], [[0, 0], [0, 0]], 0);
    const padded = (header.byteLength + 7) & ~7;
    const bytes = new Uint8Array(8 + padded);
    new DataView(bytes.buffer).setUint32(0, 0xffffffff, true);
    new DataView(bytes.buffer).setInt32(4, padded, true);
    bytes.set(header, 8);
    expectMalformed(() => decodeEncapsulatedSchema(bytes), 'expected a schema message');
  });
});

// ---------------------------------------------------------------------------------------------

/**
 * A header whose FieldNode vector claims 2^31 - 1 entries: apache-arrow's flatbuffers reader does
 * not bound vector lengths by the buffer size and allocates one FieldNode per claimed entry.
 * Run in a child process with a small heap so an OOM cannot take the test runner down.
 */
describe('resource exhaustion', () => {
  const childScript = `
    const { FlightDataDecoder } = await import(process.argv[1]);
    const hex = (s) => new Uint8Array(Buffer.from(s, 'hex'));
    const empty = new Uint8Array(0);
    const decoder = new FlightDataDecoder();
    decoder.decode({ dataHeader: hex(process.argv[2]), appMetadata: empty, dataBody: empty });
    try {
      const result = decoder.decode({ dataHeader: hex(process.argv[3]), appMetadata: empty, dataBody: new Uint8Array(8) });
      console.log(JSON.stringify({ decoded: result.kind }));
    } catch (error) {
      console.log(JSON.stringify({ name: error.name, code: error.code, message: String(error.message) }));
    }
  `;

  function hugeNodesHeader(count: number): Uint8Array {
    const header = recordBatchHeader(1, [[0x31415926, 0x27182818]], [[0, 0], [0, 4]], 8);
    const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
    let at = -1;
    for (let i = 4; i + 16 <= header.byteLength; i++) {
      if (view.getBigInt64(i, true) === 0x31415926n && view.getBigInt64(i + 8, true) === 0x27182818n) at = i;
    }
    assert.notEqual(at, -1);
    assert.equal(view.getUint32(at - 4, true), 1, 'the vector length precedes the first FieldNode');
    view.setUint32(at - 4, count, true);
    return header;
  }

  async function runChild(header: Uint8Array): Promise<{ exitCode: number; out: Record<string, unknown> | null; stderr: string }> {
    const schema = schemaHeader(new Schema([new Field('v', new Int32(), true)]));
    const index = new URL('../src/index.ts', import.meta.url).href;
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath,
        ['--max-old-space-size=96', '--import', 'tsx', '--input-type=module', '-e', childScript, index,
          Buffer.from(schema).toString('hex'), Buffer.from(header).toString('hex')],
        { timeout: 20_000, cwd: new URL('.', import.meta.url).pathname, maxBuffer: 1 << 20 });
      return { exitCode: 0, out: JSON.parse(stdout.trim().split('\n').at(-1)!), stderr };
    } catch (error) {
      const e = error as { code?: number; signal?: string; stderr?: string };
      return { exitCode: typeof e.code === 'number' ? e.code : -1, out: null, stderr: `${e.signal ?? ''} ${e.stderr?.slice(0, 300) ?? ''}` };
    }
  }

  test('control: the child decoder reports a plain malformed header', async () => {
    const result = await runChild(hugeNodesHeader(1));
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.out?.code, GrpcStatus.INVALID_ARGUMENT);
    assert.match(String(result.out?.message), /^malformed FlightData: .*values where 1 were expected/);
  });

  test('a FieldNode vector claiming 2^31-1 entries is rejected without exhausting memory', {
  }, async () => {
    const result = await runChild(hugeNodesHeader(0x7fffffff));
    assert.equal(result.exitCode, 0, `child died: ${result.stderr}`);
    assert.equal(result.out?.code, GrpcStatus.INVALID_ARGUMENT);
    assert.match(String(result.out?.message), /^malformed FlightData: /);
  });
});

describe('fuzzing', () => {
  /** Valid stream with a dictionary, nested types and nulls. */
  function validStream(): FlightData[] {
    const dictionaryType = new Dictionary(new Utf8(), new Int32(), 1);
    const batch = batchOf({
      i: vectorFromArray([1, null, 3, 4], new Int32()),
      s: vectorFromArray(['a', 'bb', null, 'dddd'], new Utf8()),
      b: vectorFromArray([true, false, null, true], new Bool()),
      l: vectorFromArray([[1], [2, 3], null, []], new List(new Field('item', new Int32(), true))),
      f: vectorFromArray([[1, 2], [3, 4], [5, 6], null], new FixedSizeList(2, new Field('item', new Float32(), true))),
      d: vectorFromArray(['x', 'y', 'x', null], dictionaryType),
    });
    const encoder = new FlightDataEncoder(batch.schema);
    return [encoder.schemaMessage(), ...encoder.batchMessages(batch)].map((m) => ({ ...m, dataBody: contiguousBody(m.dataBody) }));
  }

  /** Vectors that claim more entries than the header could hold make apache-arrow allocate without bound (see above). */
  function claimsHugeVector(header: Uint8Array): boolean {
    try {
      const root = FbMessage.getRootAsMessage(new ByteBuffer(header));
      const big = (batch: FbRecordBatch | null) => batch !== null
        && (batch.nodesLength() > header.byteLength || batch.buffersLength() > header.byteLength || batch.variadicBufferCountsLength() > header.byteLength);
      if (root.headerType() === MessageHeader.RecordBatch) return big(root.header(new FbRecordBatch()) as FbRecordBatch | null);
      if (root.headerType() === MessageHeader.DictionaryBatch) {
        const dictionary = root.header(new FbDictionaryBatch()) as FbDictionaryBatch | null;
        return dictionary !== null && big(dictionary.data());
      }
      if (root.headerType() === MessageHeader.Schema) {
        const schema = root.header(new FbSchema()) as FbSchema | null;
        if (schema === null) return false;
        if (schema.fieldsLength() > header.byteLength || schema.customMetadataLength() > header.byteLength) return true;
        const walk = (field: FbField | null, depth: number): boolean => {
          if (field === null || depth > 8) return false;
          if (field.childrenLength() > header.byteLength || field.customMetadataLength() > header.byteLength) return true;
          for (let i = 0; i < field.childrenLength(); i++) if (walk(field.children(i), depth + 1)) return true;
          return false;
        };
        for (let i = 0; i < schema.fieldsLength(); i++) if (walk(schema.fields(i), 0)) return true;
      }
      return false;
    } catch {
      return false;
    }
  }

  function fuzz(mutate: (stream: FlightData[], random: () => number) => void, iterations: number, seed: number) {
    const random = prng(seed);
    const escaped = new Map<string, number>();
    let accepted = 0;
    let rejected = 0;
    let skipped = 0;
    for (let i = 0; i < iterations; i++) {
      const stream = validStream();
      mutate(stream, random);
      if (stream.some((m) => claimsHugeVector(m.dataHeader))) { skipped++; continue; }
      const decoder = new FlightDataDecoder();
      try {
        for (const m of stream) {
          const decoded = decoder.decode(m);
          // Whatever is accepted must be readable without throwing.
          if (decoded.kind === 'batch') for (const row of decoded.batch) JSON.stringify(row, (_, v) => (typeof v === 'bigint' ? `${v}` : v));
        }
        accepted++;
      } catch (error) {
        if (error instanceof FlightError && error.code === GrpcStatus.INVALID_ARGUMENT && error.message.startsWith('malformed FlightData: ')) rejected++;
        // A changed byte can also switch on body compression, which is refused as UNIMPLEMENTED.
        else if (error instanceof FlightError && error.errorCode === 'COMPRESSION_UNSUPPORTED') rejected++;
        else {
          const key = `${(error as Error)?.constructor?.name}: ${String((error as Error)?.message).replace(/-?\d{6,}/g, 'N').slice(0, 80)}`;
          escaped.set(key, (escaped.get(key) ?? 0) + 1);
        }
      }
    }
    return { accepted, rejected, skipped, escaped };
  }

  test('random byte changes in IPC headers only ever raise malformed FlightData', {
  }, () => {
    const result = fuzz((stream, random) => {
      const target = stream[Math.floor(random() * stream.length)];
      const header = new Uint8Array(target.dataHeader);
      const flips = 1 + Math.floor(random() * 3);
      for (let k = 0; k < flips; k++) header[Math.floor(random() * header.byteLength)] = Math.floor(random() * 256);
      target.dataHeader = header;
    }, 1500, 0xf1a9);
    assert.ok(result.rejected > 100, `the mutations must hit: ${JSON.stringify({ ...result, escaped: undefined })}`);
    assert.deepEqual([...result.escaped].sort((a, b) => b[1] - a[1]).slice(0, 8), [], 'errors that escaped as non-FlightError');
  });

  test('random byte changes in bodies only ever raise malformed FlightData', () => {
    const result = fuzz((stream, random) => {
      const candidates = stream.filter((m) => m.dataBody.byteLength > 0);
      const target = candidates[Math.floor(random() * candidates.length)];
      const body = new Uint8Array(target.dataBody as Uint8Array);
      const flips = 1 + Math.floor(random() * 4);
      for (let k = 0; k < flips; k++) body[Math.floor(random() * body.byteLength)] = Math.floor(random() * 256);
      target.dataBody = body;
    }, 1500, 0xb0d1);
    assert.ok(result.rejected > 50, `the mutations must hit: ${JSON.stringify({ ...result, escaped: undefined })}`);
    assert.ok(result.accepted > 50, 'most value changes are still valid data');
    assert.deepEqual([...result.escaped], [], 'errors that escaped as non-FlightError');
  });
});
