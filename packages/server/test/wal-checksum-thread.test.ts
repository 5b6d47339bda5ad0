/** The checksum thread: CRC32C of shared memory, computed on a worker, equals the main thread's. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startChecksumJob } from '../src/wal/checksum-thread.ts';
import { crc32c, crc32cUpdate } from '../src/wal/crc32c.ts';
import { seededBytes } from './wal-test-helpers.ts';

test('a job continues a CRC over shared pieces added in order; jobs run side by side', async () => {
  const prefix = seededBytes(333, 1);
  const shared = new Uint8Array(new SharedArrayBuffer(3_000_017));
  shared.set(seededBytes(shared.length, 2));
  const first = startChecksumJob(crc32c(prefix))!;
  const second = startChecksumJob(0)!;
  for (let at = 0; at < shared.length; at += 700_001) first.add(shared.subarray(at, Math.min(shared.length, at + 700_001)));
  second.add(shared.subarray(5, 105));
  assert.equal(await first.end(), crc32cUpdate(crc32c(prefix), shared));
  assert.equal(await second.end(), crc32c(shared.subarray(5, 105)));
});
