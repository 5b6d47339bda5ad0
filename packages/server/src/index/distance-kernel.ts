/**
 * Exact distances for many vectors at once: the SIMD kernels of distance-kernel-wasm.ts, fed in
 * L2-sized blocks. Arrow buffers cannot be handed to WebAssembly without a copy, so each block
 * of vectors is copied into the kernel's memory (a memcpy at ~17 GB/s) and then scored against
 * every query of the call while it is hot in the cache; a scan runs at ~11 GB/s per core for
 * one query and faster per query for batches.
 *
 * One kernel memory per thread (module instance); calls are synchronous and do not nest, so
 * the memory is reused by every index of the thread.
 */
import { distanceKernelModuleBytes } from './distance-kernel-wasm.ts';
import type { KernelKind } from './metric.ts';
import { INDEX_SCAN_BLOCK_BYTES } from '../limits.ts';

type KernelFunction = (query: number, vectors: number, rows: number, dimensions: number, out: number, queryNorm: number) => void;

const WASM_PAGE_BYTES = 65_536;

class KernelMemory {
  readonly memory = new WebAssembly.Memory({ initial: 16 });
  readonly kernels: Record<KernelKind, KernelFunction>;
  floats: Float32Array;

  constructor() {
    const module = new WebAssembly.Module(distanceKernelModuleBytes());
    const instance = new WebAssembly.Instance(module, { env: { memory: this.memory } });
    this.kernels = instance.exports as unknown as Record<KernelKind, KernelFunction>;
    this.floats = new Float32Array(this.memory.buffer);
  }

  /** Makes the memory at least `bytes` long (growing detaches the old buffer: views renewed). */
  reserve(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return;
    this.memory.grow(Math.ceil((bytes - have) / WASM_PAGE_BYTES));
    this.floats = new Float32Array(this.memory.buffer);
  }
}

let kernelMemory: KernelMemory | undefined;

function memory(): KernelMemory {
  kernelMemory ??= new KernelMemory();
  return kernelMemory;
}

/**
 * Called for each block and query: `keys[i]` is the rank key of row `firstRow + i` for query
 * `queryIndex` (i < rows). `keys` is a view of kernel memory, valid only during the call.
 */
export type BlockVisitor = (queryIndex: number, keys: Float32Array, firstRow: number, rows: number) => void;

function alignUp16(bytes: number): number {
  return (bytes + 15) & ~15;
}

/** Squared norm of a query, for the cosine kernel. */
function squaredNorm(values: Float32Array, start: number, dimensions: number): number {
  let sum = 0;
  for (let i = start; i < start + dimensions; i++) sum += values[i] * values[i];
  return Math.fround(sum);
}

export class DistanceKernel {
  readonly blockRows: number;
  private readonly rowBytes: number;

  constructor(readonly kind: KernelKind, readonly dimensions: number) {
    this.rowBytes = dimensions * 4;
    this.blockRows = Math.max(1, Math.floor(INDEX_SCAN_BLOCK_BYTES / this.rowBytes));
  }

  /**
   * Scores each of the `queries` (row-major, count x dimensions) against rows [fromRow, toRow)
   * of `vectors` (row-major), calling `visit` per block and query.
   */
  scan(queries: Float32Array, vectors: Float32Array, fromRow: number, toRow: number, visit: BlockVisitor): void {
    if (toRow <= fromRow) return;
    const layout = this.prepare(queries, this.blockRows);
    const { floats } = layout.memory;
    const dimensions = this.dimensions;
    for (let first = fromRow; first < toRow; first += this.blockRows) {
      const rows = Math.min(this.blockRows, toRow - first);
      floats.set(vectors.subarray(first * dimensions, (first + rows) * dimensions), layout.blockAt >>> 2);
      this.scoreBlock(layout, rows, first, visit);
    }
  }

  /**
   * Scores the queries against rows picked one by one: `row(i)` returns the i-th vector (a view
   * of `dimensions` floats), for i < count. `visit` sees row numbers 0..count-1.
   */
  scanPicked(queries: Float32Array, count: number, row: (index: number) => Float32Array, visit: BlockVisitor): void {
    if (count <= 0) return;
    const layout = this.prepare(queries, this.blockRows);
    const dimensions = this.dimensions;
    for (let first = 0; first < count; first += this.blockRows) {
      const rows = Math.min(this.blockRows, count - first);
      const { floats } = layout.memory;
      let at = layout.blockAt >>> 2;
      for (let i = 0; i < rows; i++, at += dimensions) floats.set(row(first + i), at);
      this.scoreBlock(layout, rows, first, visit);
    }
  }

  private prepare(queries: Float32Array, blockRows: number): Layout {
    const dimensions = this.dimensions;
    const queryCount = queries.length / dimensions;
    const queryBytes = alignUp16(queries.length * 4);
    const blockAt = queryBytes;
    const outAt = blockAt + alignUp16(blockRows * this.rowBytes);
    const kernel = memory();
    kernel.reserve(outAt + blockRows * 4);
    kernel.floats.set(queries, 0);
    const norms = new Float64Array(queryCount);
    if (this.kind === 'cosine_distance') {
      for (let q = 0; q < queryCount; q++) norms[q] = squaredNorm(queries, q * dimensions, dimensions);
    }
    return { memory: kernel, queryCount, blockAt, outAt, norms, run: kernel.kernels[this.kind] };
  }

  private scoreBlock(layout: Layout, rows: number, firstRow: number, visit: BlockVisitor): void {
    const { memory: kernel, queryCount, blockAt, outAt, norms, run } = layout;
    const keys = kernel.floats.subarray(outAt >>> 2, (outAt >>> 2) + rows);
    for (let q = 0; q < queryCount; q++) {
      run(q * this.rowBytes, blockAt, rows, this.dimensions, outAt, norms[q]);
      visit(q, keys, firstRow, rows);
    }
  }
}

interface Layout {
  memory: KernelMemory;
  queryCount: number;
  blockAt: number;
  outAt: number;
  norms: Float64Array;
  run: KernelFunction;
}
