/**
 * CRC32C off the main thread, for put regions whose body lands in a SharedArrayBuffer.
 *
 * Checksumming a 52 MB batch takes ~5 ms of CPU; on the main thread it is taken from receiving
 * the batch, on a worker thread it overlaps it. The worker reads the shared memory in place (no
 * copy): the main thread posts each range once it has landed (it never changes afterwards),
 * and asks for the result once the body is whole. One worker serves the process, started on
 * first use. If it fails, pending jobs reject and the caller checksums on its own thread.
 */
import { Worker } from 'node:worker_threads';

export type ChecksumRequest =
  | { type: 'start'; id: number; crc: number }
  | { type: 'add'; id: number; bytes: Uint8Array }
  | { type: 'end'; id: number };
export type ChecksumReply = { type: 'crc'; id: number; crc: number };

/** The checksum of one stream of shared bytes, continued from a CRC computed so far. */
export interface ChecksumJob {
  /** Adds `bytes` (a view of a SharedArrayBuffer, final) to the checksum. */
  add(bytes: Uint8Array): void;
  /** The CRC32C of everything added; rejects if the worker failed. */
  end(): Promise<number>;
}

class ChecksumThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(crc: number): void; reject(error: Error): void }>();
  private nextId = 1;
  failed: Error | undefined;

  constructor() {
    this.worker = new Worker(new URL('../worker-bootstrap.mjs', import.meta.url), { workerData: { entry: new URL('./checksum-worker.ts', import.meta.url).href } });
    this.worker.on('message', (reply: ChecksumReply) => {
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (this.pending.size === 0) this.worker.unref();
      waiter?.resolve(reply.crc);
    });
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new Error(`checksum worker exited with code ${code}`)));
    this.worker.unref(); // idle, it keeps nothing alive (after the listeners: adding one refs it again)
  }

  start(crc: number): ChecksumJob {
    const id = this.nextId++;
    this.worker.postMessage({ type: 'start', id, crc } satisfies ChecksumRequest);
    return {
      add: (bytes) => {
        if (!this.failed) this.worker.postMessage({ type: 'add', id, bytes } satisfies ChecksumRequest);
      },
      end: () => {
        if (this.failed) return Promise.reject(this.failed);
        return new Promise((resolve, reject) => {
          this.pending.set(id, { resolve, reject });
          this.worker.ref(); // a result is awaited: keep the process up for it
          this.worker.postMessage({ type: 'end', id } satisfies ChecksumRequest);
        });
      },
    };
  }

  private fail(error: Error): void {
    this.failed ??= error;
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}

let thread: ChecksumThread | undefined;

/** A job on the shared checksum thread, or undefined when it cannot run (it failed before). */
export function startChecksumJob(crc: number): ChecksumJob | undefined {
  if (thread?.failed) return undefined;
  thread ??= new ChecksumThread();
  return thread.start(crc);
}
