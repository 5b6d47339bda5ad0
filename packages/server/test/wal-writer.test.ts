/** WAL writer: group commit, sync modes, rotation, segment deletion, lifecycle. Real temp dirs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as nextTick } from 'node:timers/promises';
import { FaultyFileLayer } from '../src/wal/faulty-file-layer.ts';
import { NodeFileLayer, type FileLayer, type OpenMode, type WalFile } from '../src/wal/file-layer.ts';
import { RecordType, SEGMENT_HEADER_BYTES, encodeSegmentHeader, segmentFileName, type WalRecord } from '../src/wal/format.ts';
import { WalRecovery } from '../src/wal/recovery.ts';
import { WalRecordTooLargeError, WalWriterFailedError } from '../src/wal/wal-errors.ts';
import { WalWriter, type WalWriterOptions } from '../src/wal/writer.ts';
import { tempDirectory } from './wal-test-helpers.ts';

/** Counts fsyncs at the file layer, independently of the writer's own counter. */
class CountingFileLayer extends NodeFileLayer {
  fileSyncs = 0;
  override async open(path: string, mode: OpenMode): Promise<WalFile> {
    const file = await super.open(path, mode);
    const sync = file.sync.bind(file);
    file.sync = async () => { this.fileSyncs++; await sync(); };
    return file;
  }
}

function payloadFor(seq: number, bytes = 64): Uint8Array {
  return Uint8Array.from({ length: bytes }, (_, index) => (seq * 7 + index) & 0xff);
}

async function readAll(directory: string, files?: FileLayer): Promise<WalRecord[]> {
  const recovery = new WalRecovery({ directory, files });
  const records: WalRecord[] = [];
  for await (const record of recovery.records()) records.push(record);
  assert.equal(recovery.report.tornTail, null);
  return records;
}

async function openWriter(directory: string, options: Partial<WalWriterOptions> = {}): Promise<WalWriter> {
  return WalWriter.open({ directory, nextSeq: 1, ...options });
}

test('group commit: 200 appends in one tick share one fsync, seqs follow call order', async (t) => {
  const directory = tempDirectory(t, 'wal-writer');
  const files = new CountingFileLayer();
  const writer = await openWriter(directory, { files });
  const syncsBefore = files.fileSyncs;
  const results = await Promise.all(Array.from({ length: 200 }, (_, index) => writer.append(RecordType.put, 'docs', payloadFor(index + 1))));
  assert.deepEqual(results.map((result) => result.seq), Array.from({ length: 200 }, (_, index) => index + 1));
  t.diagnostic(`200 same-tick appends: ${writer.fsyncs} fsyncs, ${writer.groupCommits} group commits`);
  assert.ok(writer.fsyncs <= 2, `${writer.fsyncs} fsyncs`);
  assert.equal(files.fileSyncs - syncsBefore, writer.fsyncs);
  assert.ok(writer.lastFsyncDurationMs >= 0);
  assert.equal(writer.recordsWritten, 200);
  await writer.close();
  const records = await readAll(directory);
  assert.deepEqual(records.map((record) => record.seq), results.map((result) => result.seq));
  assert.deepEqual(records[41].payload, payloadFor(42));
});

test('group commit: 200 appends spread over ticks share far fewer fsyncs', async (t) => {
  const directory = tempDirectory(t, 'wal-writer');
  const files = new CountingFileLayer();
  const writer = await openWriter(directory, { files });
  const syncsBefore = files.fileSyncs;
  const pending: Promise<{ seq: number }>[] = [];
  for (let index = 0; index < 200; index++) {
    pending.push(writer.append(RecordType.put, `set-${index % 4}`, payloadFor(index + 1)));
    if (index % 3 === 0) await nextTick(); // appends keep arriving while fsyncs run
  }
  const seqs = (await Promise.all(pending)).map((result) => result.seq);
  assert.deepEqual(seqs, Array.from({ length: 200 }, (_, index) => index + 1));
  t.diagnostic(`200 staggered appends: ${writer.fsyncs} fsyncs, ${writer.groupCommits} group commits`);
  assert.ok(writer.fsyncs < 50, `${writer.fsyncs} fsyncs for 200 appends`);
  assert.equal(files.fileSyncs - syncsBefore, writer.fsyncs);
  await writer.close();
  assert.equal((await readAll(directory)).length, 200);
});

test("sync 'none' resolves after the write and fsyncs only on close", async (t) => {
  const directory = tempDirectory(t, 'wal-writer');
  const writer = await openWriter(directory, { sync: 'none' });
  for (let seq = 1; seq <= 20; seq++) assert.deepEqual(await writer.append(RecordType.put, 'docs', payloadFor(seq)), { seq });
  assert.equal(writer.fsyncs, 0);
  await writer.close();
  assert.equal(writer.fsyncs, 1);
  assert.equal((await readAll(directory)).length, 20);
});

test('rotation by size: the crossing record ends the segment, files named by first sequence', async (t) => {
  const directory = tempDirectory(t, 'wal-writer');
  const segmentBytesMax = 1000;
  const writer = await openWriter(directory, { segmentBytesMax });
  for (let seq = 1; seq <= 40; seq++) await writer.append(RecordType.put, 'docs', payloadFor(seq, 100)); // 126 bytes each
  await Promise.all(Array.from({ length: 40 }, (_, index) => writer.append(RecordType.put, 'docs', payloadFor(41 + index, 100))));
  await writer.close();
  const names = readdirSync(directory).sort();
  assert.ok(names.length >= 10, names.join(','));
  const recordBytesEach = 19 + 4 + 100;
  names.forEach((name, index) => {
    const size = statSync(join(directory, name)).size;
    if (index < names.length - 1) {
      assert.ok(size >= segmentBytesMax && size < segmentBytesMax + recordBytesEach, `${name}: ${size} bytes`);
    }
    assert.equal((size - SEGMENT_HEADER_BYTES) % recordBytesEach, 0);
  });
  const records = await readAll(directory);
  assert.deepEqual(records.map((record) => record.seq), Array.from({ length: 80 }, (_, index) => index + 1));
  let seq = 1;
  for (const name of names) {
    assert.equal(name, segmentFileName(seq));
    seq += (statSync(join(directory, name)).size - SEGMENT_HEADER_BYTES) / recordBytesEach;
  }
  assert.equal(writer.segmentsCreated, names.length);
});

test('rotate() on demand closes the segment after earlier appends; no-op when empty', async (t) => {
  const directory = tempDirectory(t, 'wal-writer');
  const writer = await openWriter(directory);
  const first = [writer.append(RecordType.put, 'docs', payloadFor(1)), writer.append(RecordType.put, 'docs', payloadFor(2))];
  const rotated = writer.rotate();
  const third = writer.append(RecordType.drop, 'docs', new Uint8Array(0));
  assert.deepEqual(await rotated, { firstSeq: 3 });
  await Promise.all([...first, third]);
  assert.deepEqual(await writer.rotate(), { firstSeq: 4 });
  assert.deepEqual(await writer.rotate(), { firstSeq: 4 });
  assert.equal(writer.currentSegment.firstSeq, 4);
  await writer.close();
  assert.deepEqual(readdirSync(directory).sort(), [segmentFileName(1), segmentFileName(3), segmentFileName(4)]);
  assert.deepEqual((await readAll(directory)).map((record) => record.type), [RecordType.put, RecordType.put, RecordType.drop]);
});

test('deleteSegmentsUpTo removes only fully covered segments, never the current one', async (t) => {
  const directory = tempDirectory(t, 'wal-writer');
  const writer = await openWriter(directory);
  for (let seq = 1; seq <= 9; seq++) {
    await writer.append(RecordType.put, 'docs', payloadFor(seq));
    if (seq % 3 === 0) await writer.rotate(); // segments 1-3, 4-6, 7-9, then the current from 10
  }
  assert.deepEqual(await writer.deleteSegmentsUpTo(2), []);
  assert.deepEqual(await writer.deleteSegmentsUpTo(5), [segmentFileName(1)]);
  assert.deepEqual(await writer.deleteSegmentsUpTo(6), [segmentFileName(4)]);
  assert.deepEqual(await writer.deleteSegmentsUpTo(1_000), [segmentFileName(7)]);
  assert.deepEqual(readdirSync(directory), [segmentFileName(10)]);
  await writer.append(RecordType.put, 'docs', payloadFor(10));
  await writer.close();
  const recovery = new WalRecovery({ directory, afterSeq: 9 });
  const replayed: number[] = [];
  for await (const record of recovery.records()) replayed.push(record.seq);
  assert.deepEqual(replayed, [10]);
});

test('close() writes what is queued; later appends and rotations reject', async (t) => {
  const directory = tempDirectory(t, 'wal-writer');
  const writer = await openWriter(directory, { nextSeq: 100 });
  const pending = Array.from({ length: 10 }, (_, index) => writer.append(RecordType.put, 'docs', payloadFor(index)));
  await writer.close();
  assert.deepEqual((await Promise.all(pending)).map((result) => result.seq), Array.from({ length: 10 }, (_, index) => 100 + index));
  await assert.rejects(writer.append(RecordType.put, 'docs', payloadFor(1)), /closed/);
  await assert.rejects(writer.rotate(), /closed/);
  await writer.close(); // idempotent
  assert.deepEqual(readdirSync(directory), [segmentFileName(100)]);
});

test('open() replaces an empty segment at nextSeq and refuses one that holds records', async (t) => {
  const directory = tempDirectory(t, 'wal-writer');
  writeFileSync(join(directory, segmentFileName(5)), encodeSegmentHeader(5));
  const writer = await openWriter(directory, { nextSeq: 5 });
  await writer.append(RecordType.put, 'docs', payloadFor(5));
  await writer.close();
  await assert.rejects(openWriter(directory, { nextSeq: 5 }), /run recovery first/);
  await assert.rejects(openWriter(directory, { nextSeq: 3 }), /run recovery first/);
});

test('a payload modified between append and write fails the writer (checked before writing)', async (t) => {
  const directory = tempDirectory(t, 'wal-writer');
  const writer = await openWriter(directory);
  const payload = payloadFor(1);
  const append = writer.append(RecordType.put, 'docs', payload);
  payload[0] ^= 0xff;
  await assert.rejects(append, (error: unknown) => error instanceof WalWriterFailedError && /changed between append and write/.test(error.message));
  assert.ok(writer.failed);
  await assert.rejects(writer.close(), WalWriterFailedError);
  assert.equal(statSync(join(directory, segmentFileName(1))).size, SEGMENT_HEADER_BYTES);
});

/** Counts write calls and the buffers handed to each. */
class WriteCountingFileLayer extends NodeFileLayer {
  writes: number[] = [];
  override async open(path: string, mode: OpenMode): Promise<WalFile> {
    const file = await super.open(path, mode);
    const write = file.write.bind(file);
    file.write = (buffers, position) => { this.writes.push(buffers.length); return write(buffers, position); };
    return file;
  }
}

/** `payload` cut into pieces of 1 to 13 bytes, some empty, most starting at odd offsets. */
function piecesOf(payload: Uint8Array): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (let index = 0; start < payload.length; index++) {
    const size = index % 5 === 4 ? 0 : 1 + ((index * 7) % 13);
    pieces.push(payload.subarray(start, start + size));
    start += size;
  }
  return pieces;
}

test('payloads given as pieces are written as if joined: same bytes, one vectored write, past IOV_MAX', async (t) => {
  const payloads = [payloadFor(1, 20_000), payloadFor(2, 0), payloadFor(3, 3), payloadFor(4, 5000)];
  assert.ok(piecesOf(payloads[0]).length > 2048, 'more pieces than IOV_MAX (1024) in one record');
  const joinedDirectory = tempDirectory(t, 'wal-writer');
  const joined = await openWriter(joinedDirectory);
  await Promise.all(payloads.map((payload) => joined.append(RecordType.put, 'docs', payload)));
  await joined.close();

  const piecesDirectory = tempDirectory(t, 'wal-writer');
  const files = new WriteCountingFileLayer();
  const pieced = await openWriter(piecesDirectory, { files, verifyBeforeWrite: true });
  files.writes = []; // not the segment header
  const seqs = await Promise.all(payloads.map((payload, index) =>
    pieced.append(RecordType.put, 'docs', index % 2 === 0 ? piecesOf(payload) : [payload])));
  assert.deepEqual(seqs.map((result) => result.seq), [1, 2, 3, 4]);
  assert.equal(files.writes.length, 1, 'the group commit is one write call');
  assert.ok(files.writes[0] > 2048, `${files.writes[0]} buffers in the write`);
  await pieced.close();

  const segment = segmentFileName(1);
  assert.deepEqual(readFileSync(join(piecesDirectory, segment)), readFileSync(join(joinedDirectory, segment)));
  assert.deepEqual((await readAll(piecesDirectory)).map((record) => Buffer.from(record.payload)), payloads.map((payload) => Buffer.from(payload)));
});

test('payload pieces survive short writes', async (t) => {
  const directory = tempDirectory(t, 'wal-writer');
  const files = new FaultyFileLayer(new NodeFileLayer(), { seed: 11, shortWriteProbability: 0.8 });
  const writer = await openWriter(directory, { files });
  const payloads = Array.from({ length: 30 }, (_, index) => payloadFor(index + 1, 50 + index * 97));
  for (let start = 0; start < payloads.length; start += 6) {
    await Promise.all(payloads.slice(start, start + 6).map((payload) => writer.append(RecordType.put, 'docs', piecesOf(payload))));
  }
  await writer.close();
  assert.ok(files.events.filter((event) => event.startsWith('short write')).length > 3, files.events.join('\n'));
  assert.deepEqual((await readAll(directory)).map((record) => Buffer.from(record.payload)), payloads.map((payload) => Buffer.from(payload)));
});

test('a payload piece modified between append and write fails the writer (checked before writing)', async (t) => {
  const directory = tempDirectory(t, 'wal-writer');
  const writer = await openWriter(directory);
  const pieces = [payloadFor(1, 10), payloadFor(2, 10), payloadFor(3, 10)];
  const append = writer.append(RecordType.put, 'docs', pieces);
  pieces[2][9] ^= 0xff;
  await assert.rejects(append, (error: unknown) => error instanceof WalWriterFailedError && /changed between append and write/.test(error.message));
  await assert.rejects(writer.close(), WalWriterFailedError);
  assert.equal(statSync(join(directory, segmentFileName(1))).size, SEGMENT_HEADER_BYTES);
});

test('a record over the size limit is refused without using a sequence', async (t) => {
  const directory = tempDirectory(t, 'wal-writer');
  const writer = await openWriter(directory);
  const huge = Object.create(Uint8Array.prototype, { length: { value: 2 ** 30 } }) as Uint8Array; // only its length is read
  await assert.rejects(writer.append(RecordType.put, 'docs', huge), WalRecordTooLargeError);
  const half = Object.create(Uint8Array.prototype, { length: { value: 2 ** 29 } }) as Uint8Array;
  await assert.rejects(writer.append(RecordType.put, 'docs', [half, half]), WalRecordTooLargeError); // counted over all pieces
  assert.deepEqual(await writer.append(RecordType.put, 'docs', payloadFor(1)), { seq: 1 });
  await writer.close();
});
