/**
 * The main thread's handle on one HNSW worker thread: starts it, sends rows, matches replies
 * to requests, and turns a worker crash into rejected requests and a `failed` state (the
 * dataset index then answers exactly) instead of a crashed server.
 */
import { Worker } from 'node:worker_threads';
import type { HnswOptions } from './hnsw-index.ts';
import type { FromWorker, GraphFile, GraphState, ToWorker } from './index-worker-protocol.ts';

export type Found = Extract<FromWorker, { type: 'found' }>;
export type Saved = Extract<FromWorker, { type: 'saved' }>;

interface Request {
  resolve(message: FromWorker): void;
  reject(error: Error): void;
}

export interface IndexWorkerEvents {
  /** The graph finished an `add` message (or opened). */
  onState(state: GraphState): void;
  /** The worker died or reported an error outside a request. */
  onFailure(error: Error): void;
}

export class IndexWorker {
  private readonly worker: Worker;
  private readonly requests = new Map<number, Request>();
  private nextId = 1;
  private dead: Error | undefined;
  /** Resolves once the worker has opened (or loaded) its graph. */
  readonly opened: Promise<Extract<FromWorker, { type: 'opened' }>>;

  constructor(options: HnswOptions, file: GraphFile | undefined, private readonly events: IndexWorkerEvents) {
    this.worker = new Worker(new URL('../worker-bootstrap.mjs', import.meta.url), { workerData: { entry: new URL('./hnsw-worker.ts', import.meta.url).href } });
    this.worker.unref();
    this.opened = new Promise((resolve, reject) => {
      this.requests.set(0, { resolve: (message) => resolve(message as Extract<FromWorker, { type: 'opened' }>), reject });
    });
    this.opened.catch(() => undefined); // a failure is also reported through onFailure
    this.worker.on('message', (message: FromWorker) => this.receive(message));
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new Error(`index worker exited with code ${code}`)));
    this.post({ type: 'open', options, ...(file ? { file } : {}) });
  }

  get failed(): Error | undefined { return this.dead; }

  /** Sends rows to insert; `vectors` is transferred (unusable afterwards). */
  add(firstOrdinal: number, vectors: Float32Array): void {
    this.post({ type: 'add', firstOrdinal, vectors }, [vectors.buffer as ArrayBuffer]);
  }

  remove(ordinals: number[]): void {
    this.post({ type: 'remove', ordinals });
  }

  async search(queries: Float32Array, wanted: number, ef: number, threads: number): Promise<Found> {
    const id = this.nextId++;
    const reply = this.request(id);
    // Cloning a view clones its whole buffer: send an own copy, transferred.
    const own = queries.slice();
    this.post({ type: 'search', id, queries: own, wanted, ef, threads }, [own.buffer]);
    return (await reply) as Found;
  }

  async save(path: string): Promise<Saved> {
    const id = this.nextId++;
    const reply = this.request(id);
    this.post({ type: 'save', id, path });
    return (await reply) as Saved;
  }

  async close(): Promise<void> {
    this.fail(new Error('index closed'));
    await this.worker.terminate();
  }

  private request(id: number): Promise<FromWorker> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => this.requests.set(id, { resolve, reject }));
  }

  private post(message: ToWorker, transfer: ArrayBuffer[] = []): void {
    if (this.dead) return;
    this.worker.postMessage(message, transfer);
  }

  private receive(message: FromWorker): void {
    switch (message.type) {
      case 'opened':
        this.settle(0, message);
        this.events.onState(message);
        return;
      case 'added':
        this.events.onState(message);
        return;
      case 'found':
      case 'saved':
        this.settle(message.id, message);
        return;
      case 'failed': {
        const error = new Error(`index worker: ${message.message}`);
        if (message.id !== undefined && this.requests.has(message.id)) {
          this.requests.get(message.id)!.reject(error);
          this.requests.delete(message.id);
        } else {
          this.fail(error);
        }
      }
    }
  }

  private settle(id: number, message: FromWorker): void {
    const request = this.requests.get(id);
    this.requests.delete(id);
    request?.resolve(message);
  }

  private fail(error: Error): void {
    if (this.dead) return;
    this.dead = error;
    for (const request of this.requests.values()) request.reject(error);
    this.requests.clear();
    if (error.message !== 'index closed') this.events.onFailure(error);
  }
}
