/**
 * Direct-I/O WAL segments (src/wal/direct-file.ts): what reaches the file is exactly what was
 * appended, plus zero padding to a block boundary until close; the writer uses them when
 * every commit is fsync'd; with direct I/O off they are ordinary buffered files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BLOCK_BYTES, openDirectAppend } from '../src/wal/direct-file.ts';
import { NodeFileLayer, writeFully } from '../src/wal/file-layer.ts';
import { RecordType } from '../src/wal/format.ts';
import { WalRecovery } from '../src/wal/recovery.ts';
import { WalWriter } from '../src/wal/writer.ts';
import { seededRandom } from '../src/wal/faulty-file-layer.ts';
import { tempDirectory } from './wal-test-helpers.ts';

function roundUp(value: number): number {
  return Math.ceil(value / BLOCK_BYTES) * BLOCK_BYTES;
}

test('direct appends: the file holds every byte appended, zero-padded to a block until close', async (t) => {
  const path = join(tempDirectory(t, 'direct'), 'segment');
  const file = await openDirectAppend(path);
  if (!file) {
    t.skip('this file system refuses O_DIRECT');
    return;
  }
  const random = seededRandom(7);
  // Sizes around block and staging-buffer (8 MiB) boundaries, in several pieces per write.
  const sizes = [1, 23, BLOCK_BYTES - 24, BLOCK_BYTES, 5, 3 * BLOCK_BYTES + 17, (8 << 20) + 3, 100, (8 << 20) - 100, 4095, 1];
  const expected: Buffer[] = [];
  let length = 0;
  for (const size of sizes) {
    const bytes = Buffer.alloc(size);
    for (let index = 0; index < size; index += 997) bytes[index] = 1 + Math.floor(random() * 255);
    bytes[size - 1] = 0xee;
    const cut = Math.floor(size / 3);
    const written = await writeFully(file, [bytes.subarray(0, cut), bytes.subarray(cut)], length);
    assert.equal(written, size);
    expected.push(bytes);
    length += size;
    const onDisk = readFileSync(path);
    assert.equal(onDisk.length, roundUp(length), `after ${length} bytes`);
    assert.ok(onDisk.subarray(0, length).equals(Buffer.concat(expected)), `content after ${length} bytes`);
    assert.ok(onDisk.subarray(length).every((byte) => byte === 0), `padding after ${length} bytes`);
    assert.equal(await file.sizeBytes(), length);
  }
  await assert.rejects(file.write([Buffer.from('x')], length - 1), /append-only/);
  await file.sync();
  await file.close();
  assert.equal(statSync(path).size, length, 'close cuts the padding');
  assert.ok(readFileSync(path).equals(Buffer.concat(expected)));
});

test('with direct I/O off, append files are ordinary buffered files', async (t) => {
  const path = join(tempDirectory(t, 'direct'), 'segment');
  const file = await new NodeFileLayer({ directIo: false }).open(path, 'append');
  await writeFully(file, [Buffer.from('hello')], 0);
  assert.equal(statSync(path).size, 5, 'no padding: written through the page cache');
  await file.sync();
  await file.close();
  assert.equal(readFileSync(path, 'utf8'), 'hello');
});

test('a writer with fsync writes direct segments: padded while open, exact after close, recovered record for record', async (t) => {
  const directory = tempDirectory(t, 'direct');
  const writer = await WalWriter.open({ directory, nextSeq: 1, sync: 'fsync', segmentBytesMax: 64 * 1024 });
  const payloads = Array.from({ length: 40 }, (_, index) => Buffer.alloc(1000 + index * 100, index + 1));
  for (const payload of payloads) await writer.append(RecordType.put, 'vectors', [payload]);
  const current = writer.currentSegment;
  const size = statSync(current.path).size;
  if (size === current.sizeBytes) {
    t.skip('this file system refuses O_DIRECT');
    await writer.close();
    return;
  }
  assert.equal(size, roundUp(current.sizeBytes), 'the open segment ends in padding');

  // As after a crash: recover from the files as they are, with the writer still open.
  const crashed = new WalRecovery({ directory });
  const seen: number[] = [];
  for await (const record of crashed.records()) seen.push(record.payload.length);
  assert.deepEqual(seen, payloads.map((payload) => payload.length));
  assert.equal(crashed.report.tornTail?.padding, true);

  await writer.close();
  assert.equal(statSync(current.path).size, current.sizeBytes, 'close cuts the padding');
  const clean = new WalRecovery({ directory });
  let records = 0;
  for await (const record of clean.records()) {
    assert.ok(Buffer.from(record.payload).equals(payloads[records]), `record ${records + 1}`);
    records++;
  }
  assert.equal(records, payloads.length);
  assert.equal(clean.report.tornTail, null);
});
