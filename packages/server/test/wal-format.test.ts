/** WAL format: CRC32C vectors, header and record round trips, the golden segment, decoding verdicts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  crc32c, crc32cIsNative, crc32cOfParts, crc32cReference, crc32cUpdate, crc32cUpdateSliced, crc32cUpdateTables,
} from '../src/wal/crc32c.ts';
import {
  RecordType, SEGMENT_HEADER_BYTES, concatRecord, decodeRecordAt, decodeSegmentHeader, encodeRecord, encodeSegmentHeader,
  parseSegmentFileName, segmentFileName, verifyEncodedRecord, type WalRecord,
} from '../src/wal/format.ts';
import { scanSegment } from '../src/wal/reader.ts';
import { seededBytes } from './wal-test-helpers.ts';

const utf8 = new TextEncoder();

test('CRC32C matches the published check values', () => {
  assert.equal(crc32c(utf8.encode('123456789')), 0xe3069283); // the standard check value
  assert.equal(crc32c(new Uint8Array(0)), 0);
  // RFC 3720 (iSCSI) appendix B.4
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, index) => index)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, index) => 31 - index)), 0x113fdb5c);
});

test('CRC32C over parts equals CRC32C over the whole, at every split and alignment', () => {
  const bytes = Uint8Array.from({ length: 97 }, (_, index) => (index * 37 + 11) & 0xff);
  const whole = crc32c(bytes);
  for (let split = 0; split <= bytes.length; split++) {
    assert.equal(crc32cOfParts([bytes.subarray(0, split), bytes.subarray(split)]), whole);
  }
  for (let start = 0; start < 9; start++) {
    const copy = new Uint8Array(bytes.length + start);
    copy.set(bytes, start);
    assert.equal(crc32c(copy.subarray(start)), whole);
  }
});

test('CRC32C uses the CPU instruction on x86-64 and arm64 Linux (the prebuilt binary loads)', (t) => {
  if (process.platform !== 'linux' || !['x64', 'arm64'].includes(process.arch)) {
    t.skip(`no expectation for ${process.platform}-${process.arch}`);
    return;
  }
  assert.equal(crc32cIsNative, true);
  // Chained native calls over a large input equal the reference over the whole.
  const bytes = seededBytes(1_000_003, 0x1234567);
  const expected = crc32cReference(0, bytes);
  assert.equal(crc32cUpdate(crc32cUpdate(0, bytes.subarray(0, 500_001)), bytes.subarray(500_001)), expected);
});

test('CRC32C fast paths match the byte-at-a-time reference at every length, start offset and split', () => {
  const pool = seededBytes(300_000, 0x9e3779b9);
  const lengths = [...Array.from({ length: 300 }, (_, index) => index), 1023, 1024, 1025, 4096 + 13, 65_536 + 7, 131_071];
  for (const length of lengths) {
    for (let offset = 0; offset < 8; offset++) {
      const bytes = pool.subarray(offset + length, offset + 2 * length); // varied contents, every alignment
      const expected = crc32cReference(0, bytes);
      assert.equal(crc32c(bytes), expected, `length ${length}, offset ${offset}`);
      assert.equal(crc32cUpdateSliced(0, bytes), expected, `byte-order-independent path, length ${length}, offset ${offset}`);
      assert.equal(crc32cUpdateTables(0, bytes), expected, `table path, length ${length}, offset ${offset}`);
      const split = (length * 7 + offset) % (length + 1);
      assert.equal(crc32cUpdate(crc32cUpdate(0, bytes.subarray(0, split)), bytes.subarray(split)), expected, `split ${split}`);
    }
  }
  // A non-zero starting CRC on every path, and a view of a Buffer from Node's shared pool.
  const tail = pool.subarray(5, 5 + 777);
  assert.equal(crc32cUpdate(0xdeadbeef, tail), crc32cReference(0xdeadbeef, tail));
  assert.equal(crc32cUpdateSliced(0xdeadbeef, tail), crc32cReference(0xdeadbeef, tail));
  assert.equal(crc32cUpdateTables(0xdeadbeef, tail), crc32cReference(0xdeadbeef, tail));
  const pooled = Buffer.from(pool.subarray(3, 3 + 200));
  assert.equal(crc32c(pooled), crc32cReference(0, pooled));
});

test('segment header round-trips and rejects damage', () => {
  const header = encodeSegmentHeader(123_456_789_012);
  assert.equal(header.length, SEGMENT_HEADER_BYTES);
  assert.deepEqual(decodeSegmentHeader(header), { kind: 'ok', firstSeq: 123_456_789_012, version: 2 });
  assert.deepEqual(decodeSegmentHeader(encodeSegmentHeader(5, 1)), { kind: 'ok', firstSeq: 5, version: 1 });
  assert.equal(decodeSegmentHeader(header.subarray(0, 23)).kind, 'damaged');
  for (let byte = 0; byte < SEGMENT_HEADER_BYTES; byte++) {
    const damaged = header.slice();
    damaged[byte] ^= 0x10;
    const expected = byte >= 8 && byte < 12 ? 'unsupported' : 'damaged'; // version and flags
    assert.equal(decodeSegmentHeader(damaged).kind, expected, `byte ${byte}`);
  }
});

function sampleRecords(): WalRecord[] {
  const records: WalRecord[] = [];
  const names = ['a', 'docs', 'vektör-数据', 'x'.repeat(255)];
  const payloadSizes = [0, 1, 7, 8, 9, 255, 4096, 100_003];
  let seq = 1;
  for (const type of [RecordType.put, RecordType.drop, RecordType.deleteRows, RecordType.indexReserved]) {
    for (const dataset of names) {
      for (const size of payloadSizes) {
        const payload = Uint8Array.from({ length: size }, (_, index) => (index * 131 + seq) & 0xff);
        records.push({ seq: seq++ * 1_000_003, type, dataset, payload });
      }
    }
  }
  return records;
}

test('records round-trip over types, names and payload sizes', () => {
  for (const record of sampleRecords()) {
    const encoded = encodeRecord(record);
    assert.ok(verifyEncodedRecord(encoded));
    const bytes = concatRecord(encoded);
    const decoded = decodeRecordAt(bytes, 0);
    assert.equal(decoded.kind, 'ok');
    if (decoded.kind !== 'ok') return;
    assert.equal(decoded.nextOffset, bytes.length);
    assert.deepEqual({ ...decoded.record, payload: Buffer.from(decoded.record.payload) }, { ...record, payload: Buffer.from(record.payload) });
    assert.equal(decodeRecordAt(bytes, bytes.length).kind, 'end');
  }
});

test('a payload changed after encoding fails the pre-write check', () => {
  const payload = Uint8Array.from([1, 2, 3]);
  const encoded = encodeRecord({ seq: 1, type: RecordType.put, dataset: 'd', payload });
  payload[1] = 9;
  assert.equal(verifyEncodedRecord(encoded), false);
});

test('a record encoded from pieces is byte-identical to one from the joined payload', () => {
  const whole = seededBytes(10_007, 42);
  const cuts = [[], [0], [3], [3, 3, 4000], [1, 2, 9, 16, 17, 10_000], Array.from({ length: 2000 }, (_, index) => index * 5)];
  for (const points of cuts) {
    const bounds = [0, ...points, whole.length];
    const pieces = bounds.slice(1).map((end, index) => whole.subarray(bounds[index], end)); // includes empty pieces
    const fromPieces = encodeRecord({ seq: 77, type: RecordType.put, dataset: 'docs', payload: pieces });
    const fromWhole = encodeRecord({ seq: 77, type: RecordType.put, dataset: 'docs', payload: whole });
    assert.equal(fromPieces.bytes, fromWhole.bytes);
    assert.ok(fromPieces.payload.every((piece) => piece.length > 0), 'empty pieces are dropped');
    assert.deepEqual(Buffer.from(concatRecord(fromPieces)), Buffer.from(concatRecord(fromWhole)));
    assert.ok(verifyEncodedRecord(fromPieces));
  }
  const empty = encodeRecord({ seq: 1, type: RecordType.drop, dataset: 'd', payload: [] });
  assert.deepEqual(Buffer.from(concatRecord(empty)), Buffer.from(concatRecord(encodeRecord({ seq: 1, type: RecordType.drop, dataset: 'd', payload: new Uint8Array(0) }))));
});

test('a change to any payload piece after encoding fails the pre-write check', () => {
  const pieces = [Uint8Array.from([1, 2, 3]), Uint8Array.from([4]), seededBytes(100, 7)];
  const encoded = encodeRecord({ seq: 1, type: RecordType.put, dataset: 'd', payload: pieces });
  for (const [index, piece] of pieces.entries()) {
    piece[piece.length - 1] ^= 0x40;
    assert.equal(verifyEncodedRecord(encoded), false, `piece ${index}`);
    piece[piece.length - 1] ^= 0x40;
    assert.equal(verifyEncodedRecord(encoded), true);
  }
});

/**
 * Golden segment, format version 1. Produced once by the encoder and checked against an
 * independent implementation of docs/formats.md; it must never change. If this test fails,
 * the format changed: bump WAL_FORMAT_VERSION, keep a reader for version 1, add a new golden.
 */
const GOLDEN_SEGMENT_HEX = [
  // header: magic "LBWAL\0\0\x01" | version 1 | flags 0 | first sequence 7 | CRC32C
  '4c4257414c000001' + '0100' + '0000' + '0700000000000000' + 'd42ede87',
  // length 24 | CRC | seq 7 | type 1 (put) | name length 4 "docs" | payload "ARROW"
  '18000000' + '75577d02' + '0700000000000000' + '01' + '0400' + '646f6373' + '4152524f57',
  // length 18 | CRC | seq 8 | type 2 (drop) | name length 3 "old" | no payload
  '12000000' + '6ac2e8d1' + '0800000000000000' + '02' + '0300' + '6f6c64',
  // length 23 | CRC | seq 9 | type 3 (delete rows) | "docs" | payload 01 02 03 04
  '17000000' + '0858f65f' + '0900000000000000' + '03' + '0400' + '646f6373' + '01020304',
  // length 24 | CRC | seq 10 | type 1 | name length 7 "vektör" (UTF-8) | payload ff 00
  '18000000' + 'b179a6ff' + '0a00000000000000' + '01' + '0700' + '76656b74c3b672' + 'ff00',
].join('');

const GOLDEN_RECORDS: WalRecord[] = [
  { seq: 7, type: RecordType.put, dataset: 'docs', payload: utf8.encode('ARROW') },
  { seq: 8, type: RecordType.drop, dataset: 'old', payload: new Uint8Array(0) },
  { seq: 9, type: RecordType.deleteRows, dataset: 'docs', payload: Uint8Array.from([1, 2, 3, 4]) },
  { seq: 10, type: RecordType.put, dataset: 'vektör', payload: Uint8Array.from([0xff, 0x00]) },
];

test('golden segment decodes to exactly the expected records', () => {
  const bytes = Uint8Array.from(Buffer.from(GOLDEN_SEGMENT_HEX, 'hex'));
  const scan = scanSegment(bytes, { isLast: true, prevSeq: 0, nameFirstSeq: 7 });
  assert.deepEqual(scan.stop, { kind: 'end' });
  assert.deepEqual(
    scan.records.map((record) => ({ ...record, payload: [...record.payload] })),
    GOLDEN_RECORDS.map((record) => ({ ...record, payload: [...record.payload] })),
  );
});

test('the encoder still produces the golden segment byte for byte', () => {
  const parts = [encodeSegmentHeader(7, 1), ...GOLDEN_RECORDS.map((record) => concatRecord(encodeRecord(record)))];
  assert.equal(Buffer.concat(parts).toString('hex'), GOLDEN_SEGMENT_HEX);
});

test('decode verdicts: damage is torn at the end of the last segment, corrupt with a valid record after it', () => {
  const one = concatRecord(encodeRecord({ seq: 5, type: RecordType.put, dataset: 'd', payload: utf8.encode('payload') }));
  const two = Buffer.concat([one, concatRecord(encodeRecord({ seq: 6, type: RecordType.drop, dataset: 'd', payload: new Uint8Array(0) }))]);
  for (let cut = 1; cut < one.length; cut++) assert.equal(decodeRecordAt(one.subarray(0, cut), 0).kind, 'torn', `cut ${cut}`);
  const badLast = one.slice();
  badLast[one.length - 1] ^= 1;
  assert.equal(decodeRecordAt(badLast, 0).kind, 'torn'); // bad checksum, nothing after
  assert.equal(decodeRecordAt(new Uint8Array(64), 0).kind, 'torn'); // zero-filled tail
  // As segments (header first sequence 5): the reader decides with what follows.
  const scan = (records: Uint8Array, isLast = true) => scanSegment(Uint8Array.from(Buffer.concat([encodeSegmentHeader(5), records])), {
    isLast, prevSeq: 0, nameFirstSeq: 5,
  }).stop.kind;
  const badFirst = Uint8Array.from(two);
  badFirst[20] ^= 1;
  assert.equal(scan(badFirst), 'corrupt'); // bad checksum, a valid record after
  const impossible = Uint8Array.from(two);
  impossible.set([3, 0, 0, 0], 0); // length 3 < minimum
  assert.equal(scan(impossible), 'corrupt');
  // Damage followed by bytes that are no record (put region data written ahead of records not
  // yet written when the process died): torn in the last segment, corrupt in any other.
  const junk = seededBytes(5000, 3);
  const zerosThenJunk = Buffer.concat([one, new Uint8Array(4096 - ((SEGMENT_HEADER_BYTES + one.length) % 4096)), junk]);
  assert.equal(scan(zerosThenJunk), 'torn');
  assert.equal(scan(zerosThenJunk, false), 'corrupt');
  const badThenJunk = Buffer.concat([badLast, junk]);
  assert.equal(scan(badThenJunk), 'torn');
  assert.equal(scan(Buffer.concat([badLast, junk, two.subarray(one.length)])), 'corrupt'); // record 6 after the junk
});

test('a record with a valid checksum but an unknown type is corrupt', () => {
  const bytes = concatRecord(encodeRecord({ seq: 5, type: RecordType.put, dataset: 'd', payload: new Uint8Array(0) }));
  bytes[16] = 9;
  const crc = crc32c(bytes.subarray(8));
  new DataView(bytes.buffer).setUint32(4, crc, true);
  assert.deepEqual(decodeRecordAt(bytes, 0), { kind: 'corrupt', reason: 'unknown record type 9' });
});

test('segment file names are the zero-padded first sequence', () => {
  assert.equal(segmentFileName(1), '00000000000000000001.wal');
  assert.equal(parseSegmentFileName('00000000000000000042.wal'), 42);
  assert.equal(parseSegmentFileName('42.wal'), undefined);
  assert.equal(parseSegmentFileName('00000000000000000042.wal.tmp'), undefined);
  assert.equal(parseSegmentFileName('00000000000000000000.wal'), undefined);
});
