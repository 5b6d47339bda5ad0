/**
 * The WAL checksum thread: CRC32C of put region data that lands in shared memory, computed
 * while the main thread receives the rest (see checksum-thread.ts). Jobs are independent;
 * the pieces of one job arrive in order.
 */
import { parentPort } from 'node:worker_threads';
import { crc32cUpdate } from './crc32c.ts';
import type { ChecksumReply, ChecksumRequest } from './checksum-thread.ts';

const jobs = new Map<number, number>();
const port = parentPort!;

port.on('message', (request: ChecksumRequest) => {
  if (request.type === 'start') jobs.set(request.id, request.crc);
  else if (request.type === 'add') jobs.set(request.id, crc32cUpdate(jobs.get(request.id) ?? 0, request.bytes));
  else {
    const crc = jobs.get(request.id) ?? 0;
    jobs.delete(request.id);
    port.postMessage({ type: 'crc', id: request.id, crc } satisfies ChecksumReply);
  }
});
