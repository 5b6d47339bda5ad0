/**
 * The HNSW worker thread: owns one HnswIndex, inserts the rows DatasetIndex sends in small
 * batches (checking its message queue between batches, so searches are served while indexing
 * goes on), answers candidate searches, and saves or loads the graph file. Started through
 * worker-bootstrap.mjs.
 */
import { closeSync, fsyncSync, openSync, readSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort, receiveMessageOnPort } from 'node:worker_threads';
import { HnswIndex } from './hnsw-index.ts';
import type { FromWorker, GraphFile, ToWorker } from './index-worker-protocol.ts';
import { crc32cUpdate } from '../wal/crc32c.ts';
import { INDEX_INSERT_BATCH_BYTES, INDEX_WORKER_NICE, INDEX_WORKER_SPIN_MS } from '../limits.ts';

interface PendingRows {
  firstOrdinal: number;
  vectors: Float32Array;
  /** Rows of `vectors` already inserted. */
  done: number;
}

const port = parentPort;
if (!port) throw new Error('hnsw-worker.ts runs as a worker thread');

// Below the event loop when cores are short (see INDEX_WORKER_NICE): relative to the priority
// the process runs at (19 is the lowest). On Linux this sets the calling thread's nice value
// only, and the native threads usearch starts from it inherit it.
try {
  setPriority(Math.min(19, getPriority() + INDEX_WORKER_NICE));
} catch {
  // Not permitted here: the default priority.
}

let index: HnswIndex | undefined;
const pending: PendingRows[] = [];
/** Removed ordinals not inserted yet: filled with NaN when their rows come up. */
const removedAhead = new Set<number>();
let pumping = false;

function send(message: FromWorker): void {
  port!.postMessage(message);
}

function state(graph: HnswIndex): { rows: number; count: number; memoryBytes: number } {
  return { rows: graph.size, count: graph.count, memoryBytes: graph.memoryBytes };
}

/** CRC32C and length of a file, read in 4 MiB pieces. */
function fileChecksum(path: string): { bytes: number; crc32c: number } {
  const descriptor = openSync(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(4 * 1024 * 1024);
    let crc = 0;
    let bytes = 0;
    for (;;) {
      const read = readSync(descriptor, buffer, 0, buffer.length, null);
      if (read === 0) break;
      crc = crc32cUpdate(crc, buffer.subarray(0, read));
      bytes += read;
    }
    return { bytes, crc32c: crc };
  } finally {
    closeSync(descriptor);
  }
}

function fsyncFile(path: string): void {
  const descriptor = openSync(path, 'r+');
  try {
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}

function loadGraph(message: Extract<ToWorker, { type: 'open' }>, file: GraphFile): HnswIndex {
  const found = fileChecksum(file.path);
  if (found.bytes !== file.bytes || found.crc32c !== file.crc32c) {
    throw new Error(`index file ${file.path} is damaged (${found.bytes} bytes, CRC32C ${found.crc32c}; expected ${file.bytes}, ${file.crc32c})`);
  }
  const graph = HnswIndex.load(file.path, message.options, file.rows);
  if (file.keepRows < file.rows) graph.truncate(file.keepRows);
  return graph;
}

function open(message: Extract<ToWorker, { type: 'open' }>): void {
  let loadError: string | undefined;
  if (message.file) {
    try {
      index = loadGraph(message, message.file);
    } catch (error) {
      loadError = error instanceof Error ? error.message : String(error);
    }
  }
  index ??= new HnswIndex(message.options);
  send({ type: 'opened', ...state(index), ...(loadError === undefined ? {} : { loadError }) });
}

/** Inserts one small batch from the queue, then comes back after pending messages. */
function pump(): void {
  pumping = false;
  const graph = index;
  const head = pending[0];
  if (!graph || !head) return;
  const dimensions = graph.dimensions;
  const batchRows = Math.max(1, Math.floor(INDEX_INSERT_BATCH_BYTES / (dimensions * 4)));
  const totalRows = head.vectors.length / dimensions;
  const rows = Math.min(batchRows, totalRows - head.done);
  const firstOrdinal = head.firstOrdinal + head.done;
  const vectors = head.vectors.subarray(head.done * dimensions, (head.done + rows) * dimensions);
  if (removedAhead.size > 0) {
    for (let row = 0; row < rows; row++) {
      if (removedAhead.delete(firstOrdinal + row)) vectors.fill(NaN, row * dimensions, (row + 1) * dimensions);
    }
  }
  graph.add(firstOrdinal, vectors);
  head.done += rows;
  if (head.done === totalRows) {
    pending.shift();
    send({ type: 'added', ...state(graph) });
  }
  schedulePump();
}

function schedulePump(): void {
  if (pumping || pending.length === 0) return;
  pumping = true;
  setImmediate(pump);
}

function handle(message: ToWorker): void {
  switch (message.type) {
    case 'open':
      open(message);
      return;
    case 'add':
      pending.push({ firstOrdinal: message.firstOrdinal, vectors: message.vectors, done: 0 });
      schedulePump();
      return;
    case 'remove':
      for (const ordinal of message.ordinals) {
        if (index && ordinal < index.size) index.remove(ordinal);
        else removedAhead.add(ordinal);
      }
      return;
    case 'search': {
      const graph = requireIndex();
      const found = graph.candidates(message.queries, message.wanted, message.ef, message.threads);
      send({ type: 'found', id: message.id, ...found, indexedRows: graph.size });
      return;
    }
    case 'save': {
      const graph = requireIndex();
      graph.save(message.path);
      fsyncFile(message.path);
      send({ type: 'saved', id: message.id, rows: graph.size, ...fileChecksum(message.path) });
      return;
    }
  }
}

function requireIndex(): HnswIndex {
  if (!index) throw new Error('the worker has no index yet (open first)');
  return index;
}

function safely(message: ToWorker): void {
  try {
    handle(message);
  } catch (error) {
    const id = 'id' in message ? message.id : undefined;
    send({ type: 'failed', ...(id === undefined ? {} : { id }), message: error instanceof Error ? error.stack ?? error.message : String(error) });
  }
}

/**
 * After a search, with nothing to insert, wait a moment for the next message by polling
 * instead of sleeping: waking a sleeping thread costs ~50-100 us, as much as the search
 * itself, and queries tend to come in runs.
 */
function spinForMessages(): void {
  let until = performance.now() + INDEX_WORKER_SPIN_MS;
  while (pending.length === 0 && performance.now() < until) {
    const next = receiveMessageOnPort(port!);
    if (!next) continue;
    const message = next.message as ToWorker;
    safely(message);
    if (message.type === 'search') until = performance.now() + INDEX_WORKER_SPIN_MS;
  }
}

port.on('message', (message: ToWorker) => {
  safely(message);
  if (message.type === 'search') spinForMessages();
});
