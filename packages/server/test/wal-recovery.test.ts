/**
 * The recovery decision table (docs/formats.md), one test per row, on real files in temp dirs.
 * Segments are built byte by byte from the format functions so each case controls the damage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c } from '../src/wal/crc32c.ts';
import { RecordType, SEGMENT_HEADER_BYTES, concatRecord, encodeRecord, encodeSegmentHeader, segmentFileName } from '../src/wal/format.ts';
import type { RecoveryMode } from '../src/wal/recovery.ts';
import { WalCorruptionError, WalVersionError } from '../src/wal/wal-errors.ts';
import { WalWriter } from '../src/wal/writer.ts';
import { BLOCK_BYTES } from '../src/wal/direct-file.ts';
import { recoverAll, tempDirectory } from './wal-test-helpers.ts';

function recordBytes(seq: number, payloadBytes = 10 + (seq % 7)): Buffer {
  const payload = Uint8Array.from({ length: payloadBytes }, (_, index) => (seq + index) & 0xff);
  return Buffer.from(concatRecord(encodeRecord({ seq, type: RecordType.put, dataset: `set-${seq % 3}`, payload })));
}

/** Segment bytes: the header for `firstSeq`, then the given sequences' records. */
function segmentBytes(firstSeq: number, seqs: number[]): Buffer {
  return Buffer.concat([encodeSegmentHeader(firstSeq), ...seqs.map((seq) => recordBytes(seq))]);
}

function writeSegment(directory: string, firstSeq: number, bytes: Uint8Array): string {
  const path = join(directory, segmentFileName(firstSeq));
  writeFileSync(path, bytes);
  return path;
}

/** Offset of the record with index `index` in a segment built by segmentBytes. */
function offsetOf(seqs: number[], index: number): number {
  return SEGMENT_HEADER_BYTES + seqs.slice(0, index).reduce((sum, seq) => sum + recordBytes(seq).length, 0);
}

async function recover(directory: string, options: { afterSeq?: number; recovery?: RecoveryMode } = {}) {
  const { records, recovery, report } = await recoverAll(directory, options);
  return { recovery, seqs: records.map((record) => record.seq), report };
}

async function expectCorruption(directory: string, file: string, offset: number, reasonPattern: RegExp): Promise<void> {
  await assert.rejects(recover(directory), (error: unknown) => {
    assert.ok(error instanceof WalCorruptionError, String(error));
    assert.equal(error.file, file);
    assert.equal(error.offset, offset);
    assert.match(error.reason, reasonPattern);
    assert.match(error.message, new RegExp(`${file}.*offset ${offset}`));
    return true;
  });
}

test('empty or missing directory: nothing to replay', async (t) => {
  const directory = tempDirectory(t, 'wal-recovery');
  const empty = await recover(directory);
  assert.deepEqual(empty.seqs, []);
  assert.equal(empty.report.nextSeq, 1);
  assert.equal(empty.report.tornTail, null);
  const missing = await recover(join(directory, 'not-there'), { afterSeq: 41 });
  assert.deepEqual(missing.seqs, []);
  assert.equal(missing.report.nextSeq, 42);
});

test('one clean segment: every record, in order', async (t) => {
  const directory = tempDirectory(t, 'wal-recovery');
  writeSegment(directory, 1, segmentBytes(1, [1, 2, 3, 4]));
  const { seqs, report } = await recover(directory);
  assert.deepEqual(seqs, [1, 2, 3, 4]);
  assert.equal(report.nextSeq, 5);
  assert.equal(report.tornTail, null);
  assert.equal(report.truncation, null);
});

test('several segments: in order, afterSeq skips covered segments and records', async (t) => {
  const directory = tempDirectory(t, 'wal-recovery');
  writeSegment(directory, 1, segmentBytes(1, [1, 2, 3]));
  writeSegment(directory, 4, segmentBytes(4, [4, 5]));
  writeSegment(directory, 6, segmentBytes(6, [6, 7, 8]));
  writeFileSync(join(directory, 'notes.txt'), 'not a segment');
  assert.deepEqual((await recover(directory)).seqs, [1, 2, 3, 4, 5, 6, 7, 8]);
  const after = await recover(directory, { afterSeq: 5 });
  assert.deepEqual(after.seqs, [6, 7, 8]);
  assert.equal(after.report.segmentsSkipped, 2);
  const mid = await recover(directory, { afterSeq: 4 });
  assert.deepEqual(mid.seqs, [5, 6, 7, 8]);
  assert.equal(mid.report.segmentsSkipped, 1);
  assert.equal(mid.report.recordsRead, 5);
});

test('an empty last segment (crash after rotation) is clean and sets nextSeq', async (t) => {
  const directory = tempDirectory(t, 'wal-recovery');
  writeSegment(directory, 1, segmentBytes(1, [1, 2]));
  writeSegment(directory, 3, segmentBytes(3, []));
  const { seqs, report } = await recover(directory);
  assert.deepEqual(seqs, [1, 2]);
  assert.equal(report.nextSeq, 3);
});

test('zero padding to a block boundary after the last record (a direct-I/O segment not closed) is cut as padding', async (t) => {
  const directory = tempDirectory(t, 'wal-recovery');
  const seqs = [1, 2, 3];
  const whole = segmentBytes(1, seqs);
  const padded = Buffer.alloc(Math.ceil(whole.length / BLOCK_BYTES) * BLOCK_BYTES);
  whole.copy(padded);
  const path = writeSegment(directory, 1, padded);
  const { recovery, seqs: replayed, report } = await recover(directory);
  assert.deepEqual(replayed, [1, 2, 3]);
  assert.equal(report.tornTail?.padding, true);
  assert.equal(report.tornTail?.offset, whole.length);
  assert.equal(report.nextSeq, 4);
  assert.equal(await recovery.truncateTail(), true);
  assert.equal(statSync(path).size, whole.length);

  // A whole block or more of zeros, or zeros not ending on a block boundary, is a torn tail.
  for (const length of [padded.length + BLOCK_BYTES, padded.length - 1]) {
    const zeros = Buffer.alloc(length);
    whole.copy(zeros);
    writeSegment(directory, 1, zeros);
    const torn = await recover(directory);
    assert.deepEqual(torn.seqs, [1, 2, 3]);
    assert.equal(torn.report.tornTail?.padding, false, `zeros to ${length}`);
  }
});

test('zero padding ending a segment that is not the last: its end in version 2 (closed in the background), corruption in version 1', async (t) => {
  const directory = tempDirectory(t, 'wal-recovery');
  const whole = segmentBytes(1, [1, 2]);
  const padded = Buffer.alloc(Math.ceil(whole.length / BLOCK_BYTES) * BLOCK_BYTES);
  whole.copy(padded);
  writeSegment(directory, 1, padded);
  writeSegment(directory, 3, segmentBytes(3, [3]));
  const { seqs, report } = await recover(directory);
  assert.deepEqual(seqs, [1, 2, 3]);
  assert.equal(report.tornTail, null);
  // More than padding (a block of zeros and more) is still corruption.
  const overPadded = Buffer.alloc(padded.length + BLOCK_BYTES);
  whole.copy(overPadded);
  const path = writeSegment(directory, 1, overPadded);
  await expectCorruption(directory, path, whole.length, /zero-filled tail, in a segment that is not the last/);
  // A version 1 writer always cut its padding before closing a segment.
  const v1 = Buffer.from(padded);
  v1.set(encodeSegmentHeader(1, 1), 0);
  writeSegment(directory, 1, v1);
  await expectCorruption(directory, path, whole.length, /zero-filled tail, in a segment that is not the last/);
});

test('torn tail at every cut point of the last record: stop, report, truncate', async (t) => {
  const directory = tempDirectory(t, 'wal-recovery');
  const seqs = [1, 2, 3];
  const whole = segmentBytes(1, seqs);
  const lastOffset = offsetOf(seqs, 2);
  for (let cut = lastOffset + 1; cut < whole.length; cut++) {
    const path = writeSegment(directory, 1, whole.subarray(0, cut));
    const { recovery, seqs: replayed, report } = await recover(directory);
    assert.deepEqual(replayed, [1, 2], `cut at ${cut}`);
    assert.deepEqual({ ...report.tornTail, reason: '' }, { file: path, offset: lastOffset, bytesDropped: cut - lastOffset, reason: '', padding: false });
    assert.equal(report.nextSeq, 3);
    assert.equal(await recovery.truncateTail(), true);
    assert.equal(statSync(path).size, lastOffset);
    const again = await recover(directory);
    assert.deepEqual(again.seqs, [1, 2]);
    assert.equal(again.report.tornTail, null);
  }
});

test('torn segment header (crash while creating a segment): torn at 0, truncateTail deletes it', async (t) => {
  const directory = tempDirectory(t, 'wal-recovery');
  writeSegment(directory, 1, segmentBytes(1, [1, 2]));
  const header = encodeSegmentHeader(3);
  for (let cut = 0; cut <= SEGMENT_HEADER_BYTES; cut++) {
    const bytes = Buffer.from(header.subarray(0, cut));
    if (cut === SEGMENT_HEADER_BYTES) bytes[21] ^= 1; // full length, bad checksum, nothing after
    const path = writeSegment(directory, 3, bytes);
    const { recovery, seqs, report } = await recover(directory);
    assert.deepEqual(seqs, [1, 2]);
    assert.equal(report.tornTail?.offset, 0, `cut at ${cut}`);
    assert.equal(report.nextSeq, 3);
    await recovery.truncateTail();
    assert.deepEqual(readdirSync(directory), [segmentFileName(1)], path);
  }
});

test('bad checksum in the last record with nothing after it is a torn tail', async (t) => {
  const directory = tempDirectory(t, 'wal-recovery');
  const seqs = [1, 2, 3];
  const bytes = segmentBytes(1, seqs);
  bytes[bytes.length - 2] ^= 0x40;
  writeSegment(directory, 1, bytes);
  const { seqs: replayed, report } = await recover(directory);
  assert.deepEqual(replayed, [1, 2]);
  assert.equal(report.tornTail?.offset, offsetOf(seqs, 2));
  assert.match(report.tornTail?.reason ?? '', /checksum mismatch/);
});

test('a zero-filled tail after the records is a torn tail', async (t) => {
  const directory = tempDirectory(t, 'wal-recovery');
  const bytes = Buffer.concat([segmentBytes(1, [1, 2]), Buffer.alloc(4096)]);
  writeSegment(directory, 1, bytes);
  const { seqs, report } = await recover(directory);
  assert.deepEqual(seqs, [1, 2]);
  assert.equal(report.tornTail?.offset, offsetOf([1, 2], 2));
});

test('bad checksum mid-file is corruption naming file and offset', async (t) => {
  const directory = tempDirectory(t, 'wal-recovery');
  const seqs = [1, 2, 3, 4];
  const bytes = segmentBytes(1, seqs);
  bytes[offsetOf(seqs, 1) + 20] ^= 0x01; // inside record 2's name or payload
  const path = writeSegment(directory, 1, bytes);
  await expectCorruption(directory, path, offsetOf(seqs, 1), /checksum mismatch/);
});

test('a flipped bit in a length that runs past the end is corruption when records follow', async (t) => {
  const directory = tempDirectory(t, 'wal-recovery');
  const seqs = [1, 2, 3, 4];
  const bytes = segmentBytes(1, seqs);
  bytes[offsetOf(seqs, 1) + 2] ^= 0x01; // length + 65536: runs past the end of the file
  const path = writeSegment(directory, 1, bytes);
  await expectCorruption(directory, path, offsetOf(seqs, 1), /runs .* past the end.*valid record follows at offset/);
});

test('damage in a segment that is not the last is corruption, even at its end', async (t) => {
  const directory = tempDirectory(t, 'wal-recovery');
  const first = segmentBytes(1, [1, 2, 3]);
  const firstPath = writeSegment(directory, 1, first.subarray(0, first.length - 5));
  writeSegment(directory, 4, segmentBytes(4, [4, 5]));
  await expectCorruption(directory, firstPath, offsetOf([1, 2, 3], 2), /not the last/);
  const badHeader = segmentBytes(1, [1, 2, 3]);
  badHeader[3] ^= 1;
  writeSegment(directory, 1, badHeader);
  await expectCorruption(directory, firstPath, 0, /magic/);
});

test('sequences must increase within and across segments', async (t) => {
  const directory = tempDirectory(t, 'wal-recovery');
  const path = writeSegment(directory, 1, segmentBytes(1, [1, 2, 2, 3]));
  await expectCorruption(directory, path, offsetOf([1, 2, 2, 3], 2), /sequence 2 does not follow sequence 2/);
  rmSync(path);
  writeSegment(directory, 1, segmentBytes(1, [1, 2, 3]));
  const overlapping = writeSegment(directory, 3, segmentBytes(3, [4]));
  await expectCorruption(directory, overlapping, 0, /starts at sequence 3, not after sequence 3/);
  rmSync(overlapping);
  const renamed = writeSegment(directory, 9, segmentBytes(4, [4]));
  await expectCorruption(directory, renamed, 0, /header says first sequence 4, file name says 9/);
});

test('truncate mode cuts the log at the corruption and deletes later segments', async (t) => {
  const directory = tempDirectory(t, 'wal-recovery');
  writeSegment(directory, 1, segmentBytes(1, [1, 2]));
  const seqs = [3, 4, 5];
  const damaged = segmentBytes(3, seqs);
  damaged[offsetOf(seqs, 1) + 25] ^= 0x80;
  const damagedPath = writeSegment(directory, 3, damaged);
  writeSegment(directory, 6, segmentBytes(6, [6, 7]));
  const { seqs: replayed, report } = await recover(directory, { recovery: 'truncate' });
  assert.deepEqual(replayed, [1, 2, 3]);
  assert.equal(report.truncation?.file, damagedPath);
  assert.equal(report.truncation?.offset, offsetOf(seqs, 1));
  assert.equal(report.truncation?.bytesDropped, damaged.length - offsetOf(seqs, 1));
  assert.deepEqual(report.truncation?.segmentsDeleted, [segmentFileName(6)]);
  assert.equal(report.nextSeq, 4);
  assert.equal(statSync(damagedPath).size, offsetOf(seqs, 1));
  const again = await recover(directory);
  assert.deepEqual(again.seqs, [1, 2, 3]);
  const writer = await WalWriter.open({ directory, nextSeq: again.report.nextSeq });
  assert.deepEqual(await writer.append(RecordType.drop, 'set-0', new Uint8Array(0)), { seq: 4 });
  await writer.close();
  assert.deepEqual((await recover(directory)).seqs, [1, 2, 3, 4]);
});

test('truncate mode deletes a segment whose header is corrupt', async (t) => {
  const directory = tempDirectory(t, 'wal-recovery');
  writeSegment(directory, 1, segmentBytes(1, [1, 2]));
  const bad = segmentBytes(3, [3, 4]);
  bad[12] ^= 1; // first sequence: header checksum mismatch, records after it
  writeSegment(directory, 3, bad);
  const { seqs, report } = await recover(directory, { recovery: 'truncate' });
  assert.deepEqual(seqs, [1, 2]);
  assert.deepEqual(report.truncation?.segmentsDeleted, [segmentFileName(3)]);
  assert.deepEqual(readdirSync(directory), [segmentFileName(1)]);
  assert.equal(report.nextSeq, 3);
});

test('an unknown format version is refused even in truncate mode', async (t) => {
  const directory = tempDirectory(t, 'wal-recovery');
  const bytes = segmentBytes(1, [1]);
  bytes.writeUInt16LE(3, 8);
  bytes.writeUInt32LE(crc32c(bytes.subarray(0, 20)), 20);
  const path = writeSegment(directory, 1, bytes);
  for (const recovery of ['strict', 'truncate'] as const) {
    await assert.rejects(recover(directory, { recovery }), (error: unknown) => error instanceof WalVersionError && /version 3/.test(error.message));
  }
  assert.equal(statSync(path).size, bytes.length);
});
