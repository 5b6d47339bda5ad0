/**
 * Puts written while they arrive (WAL format version 2): put regions and their commits, through
 * the writer and back through recovery, with and without direct I/O. Real temp dirs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c } from '../src/wal/crc32c.ts';
import { FaultyFileLayer } from '../src/wal/faulty-file-layer.ts';
import { NodeFileLayer } from '../src/wal/file-layer.ts';
import {
  RecordType, SEGMENT_HEADER_BYTES, concatRecord, encodeCommitPayload, encodeRecord, encodeRegionHead, encodeSegmentHeader,
  segmentFileName,
} from '../src/wal/format.ts';
import { scanSegment } from '../src/wal/reader.ts';
import { WalCorruptionError } from '../src/wal/wal-errors.ts';
import { WalWriter, type WalWriterOptions } from '../src/wal/writer.ts';
import { recoverAll, seededBytes, tempDirectory } from './wal-test-helpers.ts';

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

const layouts = [
  { name: 'direct I/O', files: () => new NodeFileLayer() },
  { name: 'page cache', files: () => new NodeFileLayer({ directIo: false }) },
];

for (const layout of layouts) {
  test(`${layout.name}: a staged put lands in pieces, commits, and recovers as a put with the commit's sequence`, async (t) => {
    const directory = tempDirectory(t, 'wal-staged');
    const writer = await WalWriter.open({ directory, nextSeq: 1, files: layout.files() });
    await writer.append(RecordType.put, 'docs', seededBytes(100, 1)); // seq 1: the region starts mid-block
    const prefix = [seededBytes(37, 2), seededBytes(300, 3)];
    const body = seededBytes(5_000_123, 4); // several region chunks and a short last one
    const staged = writer.stage('docs', prefix, body);
    assert.ok(staged);
    for (let landed = 0; landed < body.length; landed += 333_333) staged.landed(landed);
    // Another put appended meanwhile goes after the region and is durable first.
    const other = await writer.append(RecordType.put, 'other', seededBytes(10, 5));
    assert.equal(other.seq, 3); // 2 is the region
    staged.landed(body.length);
    const committed = await writer.commitStaged(staged);
    assert.equal(committed.seq, 4);
    await writer.append(RecordType.drop, 'other', new Uint8Array(0)); // after the region's data
    await writer.close();
    assert.equal(writer.stagedCommits, 1);
    const { records, report } = await recoverAll(directory);
    assert.equal(report.tornTail, null);
    assert.deepEqual(records.map((record) => [record.seq, record.type, record.dataset]), [
      [1, RecordType.put, 'docs'], [3, RecordType.put, 'other'], [4, RecordType.put, 'docs'], [5, RecordType.drop, 'other'],
    ]);
    assert.deepEqual(Buffer.from(records[2].payload), Buffer.from(concat([...prefix, body])));
    assert.equal(report.nextSeq, 6);
    const size = statSync(join(directory, segmentFileName(1))).size;
    t.diagnostic(`${layout.name}: segment of ${size} bytes for ${body.length + 337} bytes of region data`);
  });

  test(`${layout.name}: an abandoned region is skipped, before or after its head is written`, async (t) => {
    const directory = tempDirectory(t, 'wal-staged');
    const writer = await WalWriter.open({ directory, nextSeq: 1, files: layout.files() });
    const early = writer.stage('docs', [], seededBytes(10_000, 6))!;
    early.abandon(); // still queued: never written
    await writer.append(RecordType.put, 'docs', seededBytes(50, 7));
    const late = writer.stage('docs', [seededBytes(8, 8)], seededBytes(3_000_000, 9))!;
    late.landed(2_500_000);
    await writer.append(RecordType.put, 'docs', seededBytes(50, 10)); // the region's head is written by now
    late.abandon();
    const last = writer.stage('docs', [], seededBytes(1_000_000, 11))!;
    await new Promise((resolve) => setTimeout(resolve, 10));
    last.abandon(); // at the end of the segment: close extends the file over it
    await writer.close();
    const { records, report } = await recoverAll(directory);
    assert.equal(report.tornTail, null);
    assert.deepEqual(records.map((record) => record.seq), [2, 4]);
  });
}

test('a rotation while a put arrives orphans its region: the put is then appended whole, in the next segment', async (t) => {
  const directory = tempDirectory(t, 'wal-staged');
  const writer = await WalWriter.open({ directory, nextSeq: 1 });
  await writer.append(RecordType.put, 'docs', seededBytes(100, 1));
  const body = seededBytes(20_000, 2);
  const staged = writer.stage('docs', [seededBytes(16, 5)], body)!; // region 2, in segment 1
  staged.landed(5_000);
  assert.deepEqual(await writer.rotate(), { firstSeq: 3 }); // a snapshot's rotation does not wait for the put
  await writer.append(RecordType.put, 'docs', seededBytes(500, 3)); // seq 3, segment 3
  staged.landed(body.length);
  assert.equal((await writer.commitStaged(staged)).seq, 4);
  await writer.close();
  assert.equal(writer.stagedCommits, 0);
  assert.deepEqual(readdirSync(directory).sort(), [segmentFileName(1), segmentFileName(3)]);
  const { records, report } = await recoverAll(directory);
  assert.equal(report.tornTail, null);
  assert.deepEqual(records.map((record) => record.seq), [1, 3, 4]);
  assert.deepEqual(Buffer.from(records[2].payload), Buffer.from(concat([seededBytes(16, 5), body])));
});

test('a put whose region fills the segment is committed as a region; the segment closes after it', async (t) => {
  const directory = tempDirectory(t, 'wal-staged');
  const writer = await WalWriter.open({ directory, nextSeq: 1, segmentBytesMax: 64 * 1024 });
  await writer.append(RecordType.put, 'docs', seededBytes(100, 1));
  const body = seededBytes(200_000, 2); // far past the segment limit
  const staged = writer.stage('docs', [], body)!;
  staged.landed(50_000);
  await new Promise((resolve) => setTimeout(resolve, 20)); // its head is written meanwhile
  staged.landed(body.length);
  assert.equal((await writer.commitStaged(staged)).seq, 3);
  assert.equal(writer.stagedCommits, 1, 'committed as a region, not orphaned and appended whole');
  assert.equal(writer.currentSegment.firstSeq, 4, 'closed before the commit was acknowledged');
  await writer.close();
});

test('puts staged back to back (each before the last is durable) still let segments rotate by size', async (t) => {
  const directory = tempDirectory(t, 'wal-staged');
  const segmentBytesMax = 64 * 1024;
  const writer = await WalWriter.open({ directory, nextSeq: 1, segmentBytesMax });
  const bodies = Array.from({ length: 20 }, (_, index) => seededBytes(30_000 + index, index + 1));
  const commits: Promise<{ seq: number }>[] = [];
  let previous: ReturnType<WalWriter['stage']> = null;
  for (const body of bodies) {
    const staged = writer.stage('docs', [], body)!; // staged while the previous put is still open
    staged.landed(body.length / 2);
    if (previous) commits.push(writer.commitStaged(previous));
    staged.landed(body.length);
    previous = staged;
  }
  commits.push(writer.commitStaged(previous!));
  await Promise.all(commits);
  await writer.close();
  const sizes = readdirSync(directory).map((name) => statSync(join(directory, name)).size);
  t.diagnostic(`${sizes.length} segments: ${sizes.join(', ')} bytes`);
  assert.ok(sizes.length >= 8, `${sizes.length} segments`);
  for (const size of sizes) assert.ok(size <= segmentBytesMax + 2 * 40_960, `segment of ${size} bytes`);
  const { records } = await recoverAll(directory);
  assert.deepEqual(records.map((record) => Buffer.from(record.payload).equals(Buffer.from(bodies[records.indexOf(record)]))), bodies.map(() => true));
});

test('closing the writer while a put arrives stops its data writes and leaves a readable log', async (t) => {
  const directory = tempDirectory(t, 'wal-staged');
  const writer = await WalWriter.open({ directory, nextSeq: 1 });
  await writer.append(RecordType.put, 'docs', seededBytes(100, 1));
  const staged = writer.stage('docs', [], seededBytes(6_000_000, 2))!;
  staged.landed(3_000_000);
  await writer.close();
  staged.landed(6_000_000); // too late: nothing more is written
  const { records, report } = await recoverAll(directory);
  assert.equal(report.tornTail, null);
  assert.deepEqual(records.map((record) => record.seq), [1]);
});

test('crash while a region is written: the unfinished region at the end is a torn tail, nothing acknowledged is lost', async (t) => {
  const directory = tempDirectory(t, 'wal-staged');
  const files = new FaultyFileLayer(new NodeFileLayer({ directIo: false }), { seed: 7 });
  const writer = await WalWriter.open({ directory, nextSeq: 1, files });
  await writer.append(RecordType.put, 'docs', seededBytes(100, 1));
  const staged = writer.stage('docs', [], seededBytes(6_000_000, 2))!;
  staged.landed(4_500_000);
  await new Promise((resolve) => setTimeout(resolve, 20));
  await files.crash();
  const { records, report, recovery } = await recoverAll(directory);
  assert.deepEqual(records.map((record) => record.seq), [1]);
  assert.ok(report.tornTail, 'the region runs past the end of the file');
  assert.match(report.tornTail.reason, /past the end/);
  await recovery.truncateTail();
  const reopened = await WalWriter.open({ directory, nextSeq: report.nextSeq });
  assert.equal(reopened.nextSeq, 2);
  await reopened.close();
});

/** A version 2 segment: the header, then records given as encoded bytes. */
function segment(firstSeq: number, parts: readonly Uint8Array[]): Uint8Array {
  return concat([encodeSegmentHeader(firstSeq), ...parts]);
}

function regionAt(position: number, seq: number, dataset: string, data: Uint8Array): Uint8Array {
  const { head, recordBytes } = encodeRegionHead({ seq, dataset, position, dataBytes: data.length, alignBytes: 64 });
  const bytes = new Uint8Array(recordBytes);
  bytes.set(head, 0);
  bytes.set(data, head.length);
  return bytes;
}

function commitOf(seq: number, regionSeq: number, dataset: string, data: Uint8Array): Uint8Array {
  return concatRecord(encodeRecord({ seq, type: RecordType.putCommit, dataset, payload: encodeCommitPayload(regionSeq, crc32c(data)) }));
}

test('scan verdicts for regions and commits', () => {
  const data = seededBytes(200, 3);
  const region = regionAt(SEGMENT_HEADER_BYTES, 1, 'docs', data);
  const drop = concatRecord(encodeRecord({ seq: 3, type: RecordType.drop, dataset: 'x', payload: new Uint8Array(0) }));
  const scan = (bytes: Uint8Array, isLast = true) => scanSegment(bytes, { isLast, prevSeq: 0, nameFirstSeq: 1 });

  const good = scan(segment(1, [region, commitOf(2, 1, 'docs', data), drop]));
  assert.deepEqual(good.stop, { kind: 'end' });
  assert.deepEqual(good.records.map((record) => [record.seq, record.type]), [[2, RecordType.put], [3, RecordType.drop]]);
  assert.deepEqual(Buffer.from(good.records[0].payload), Buffer.from(data));

  // Region data damaged: corrupt when more follows the commit, torn when the commit is last.
  const damaged = Uint8Array.from(region);
  damaged[50] ^= 1; // inside the data (which starts at byte 40 of the region here)
  assert.equal(scan(segment(1, [damaged, commitOf(2, 1, 'docs', data), drop])).stop.kind, 'corrupt');
  assert.equal(scan(segment(1, [damaged, commitOf(2, 1, 'docs', data)])).stop.kind, 'torn');
  assert.equal(scan(segment(1, [damaged, commitOf(2, 1, 'docs', data)]), false).stop.kind, 'corrupt');
  // A region's length is checksummed (its data is not, so a wrong length would go unnoticed):
  // a flipped length bit is corrupt, not a torn tail that silently drops the records after it.
  for (const bit of [8, 12, 15]) {
    const flipped = Uint8Array.from(region);
    flipped[bit >> 3] ^= 1 << (bit & 7);
    assert.equal(scan(segment(1, [flipped, commitOf(2, 1, 'docs', data), drop])).stop.kind, 'corrupt', `bit ${bit}`);
  }
  // A region's own fields are checksummed.
  const badHead = Uint8Array.from(region);
  badHead[16 + 3] ^= 1; // in the dataset name
  assert.equal(scan(segment(1, [badHead, drop])).stop.kind, 'corrupt');
  // Commits of a missing, foreign or already committed region.
  assert.match(JSON.stringify(scan(segment(1, [region, commitOf(2, 9, 'docs', data), drop])).stop), /not in this segment/);
  assert.match(JSON.stringify(scan(segment(1, [region, commitOf(2, 1, 'other', data), drop])).stop), /belongs to dataset/);
  assert.match(JSON.stringify(scan(segment(1, [region, commitOf(2, 1, 'docs', data), commitOf(3, 1, 'docs', data)])).stop), /committed before/);
  // An uncommitted region is skipped.
  const skipped = scan(segment(1, [region, drop]));
  assert.deepEqual(skipped.stop, { kind: 'end' });
  assert.deepEqual(skipped.records.map((record) => record.seq), [3]);
  assert.equal(skipped.lastSeq, 3);
  // A region cut short by a crash is torn even when its data (a client's bytes) holds what looks
  // like a valid record: the rescan does not look inside it.
  const planted = concatRecord(encodeRecord({ seq: 2, type: RecordType.drop, dataset: 'x', payload: new Uint8Array(0) }));
  const plantedData = concat([planted, seededBytes(300, 9)]);
  const cut = regionAt(SEGMENT_HEADER_BYTES, 1, 'docs', plantedData).subarray(0, 40 + planted.length + 10);
  const cutScan = scan(segment(1, [cut]));
  assert.equal(cutScan.stop.kind, 'torn', JSON.stringify(cutScan.stop));
  // Types 5 and 6 do not exist in version 1 segments: there a region's checksum is read over the whole record.
  assert.equal(scan(concat([encodeSegmentHeader(1, 1), region, drop])).stop.kind, 'corrupt');
  const commitV1 = concat([encodeSegmentHeader(1, 1), commitOf(1, 1, 'docs', data)]);
  assert.match(JSON.stringify(scan(commitV1).stop), /unknown record type 6/);
});

test('recovery in strict mode refuses a committed region whose data is damaged before the end of the log', async (t) => {
  const directory = tempDirectory(t, 'wal-staged');
  const data = seededBytes(4096, 5);
  const region = regionAt(SEGMENT_HEADER_BYTES, 1, 'docs', data);
  region[region.length - 10] ^= 0x40;
  const drop = concatRecord(encodeRecord({ seq: 3, type: RecordType.drop, dataset: 'x', payload: new Uint8Array(0) }));
  writeFileSync(join(directory, segmentFileName(1)), segment(1, [region, commitOf(2, 1, 'docs', data), drop]));
  await assert.rejects(recoverAll(directory), (error: unknown) => error instanceof WalCorruptionError && /does not match its commit/.test(error.message));
});

/**
 * Golden segment, format version 2: a put region (type 5, data aligned to 64 bytes here; the
 * writer aligns to 4096) and its commit (type 6). Checked against an independent implementation
 * of docs/formats.md; it must never change.
 */
const GOLDEN_V2_HEX = [
  // header: magic | version 2 | flags 0 | first sequence 1 | CRC32C
  '4c4257414c000001' + '0200' + '0000' + '0100000000000000' + 'a72a2967',
  // region at offset 24: length 100 | CRC of the length field then seq..data length | seq 1 | type 5 | "docs" | data offset 17 (from the
  // payload start, offset 47, to the 64-byte boundary) | data length 5 | 9 zero bytes
  '64000000' + '920a8b33' + '0100000000000000' + '05' + '0400' + '646f6373' + '11000000' + '05000000' + '000000000000000000',
  // data "ARROW", then zeros to the 64-byte boundary (59 bytes)
  '4152524f57' + '00'.repeat(59),
  // commit: length 31 | CRC | seq 2 | type 6 | "docs" | region seq 1 | CRC32C("ARROW")
  '1f000000' + 'cdf35e7a' + '0200000000000000' + '06' + '0400' + '646f6373' + '0100000000000000' + 'f363bed2',
].join('');

test('golden version 2 segment: the encoder produces it and the reader decodes it', () => {
  const data = new TextEncoder().encode('ARROW');
  const built = segment(1, [regionAt(SEGMENT_HEADER_BYTES, 1, 'docs', data), commitOf(2, 1, 'docs', data)]);
  assert.equal(Buffer.from(built).toString('hex'), GOLDEN_V2_HEX);
  const scan = scanSegment(Uint8Array.from(Buffer.from(GOLDEN_V2_HEX, 'hex')), { isLast: true, prevSeq: 0, nameFirstSeq: 1 });
  assert.deepEqual(scan.stop, { kind: 'end' });
  assert.deepEqual(scan.records.map((record) => ({ ...record, payload: Buffer.from(record.payload).toString() })), [
    { seq: 2, type: RecordType.put, dataset: 'docs', payload: 'ARROW' },
  ]);
});

test('a v1 segment written by an older build is still replayed before v2 segments', async (t) => {
  const directory = tempDirectory(t, 'wal-staged');
  const v1 = concat([encodeSegmentHeader(1, 1), concatRecord(encodeRecord({ seq: 1, type: RecordType.put, dataset: 'docs', payload: seededBytes(9, 1) }))]);
  writeFileSync(join(directory, segmentFileName(1)), v1);
  const writer = await WalWriter.open({ directory, nextSeq: 2 } satisfies WalWriterOptions);
  const body = seededBytes(70_000, 2);
  const staged = writer.stage('docs', [], body)!;
  staged.landed(body.length);
  await writer.commitStaged(staged);
  await writer.close();
  assert.equal(readFileSync(join(directory, segmentFileName(2))).readUInt16LE(8), 2);
  const { records } = await recoverAll(directory);
  assert.deepEqual(records.map((record) => record.seq), [1, 3]);
});
