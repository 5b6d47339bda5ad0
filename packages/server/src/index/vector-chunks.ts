/**
 * The vectors of a dataset as a list of contiguous float32 chunks (rows x dimensions each,
 * usually views of Arrow FixedSizeList buffers: nothing is copied), addressed by row ordinal.
 * Chunks are appended in ordinal order without gaps.
 */
import assert from 'node:assert/strict';

export interface ChunkRange {
  /** The chunk's vectors (row-major). */
  vectors: Float32Array;
  /** Ordinal of the chunk's first row. */
  firstOrdinal: number;
  /** Rows [fromRow, toRow) of the chunk fall in the requested range. */
  fromRow: number;
  toRow: number;
}

export class VectorChunks {
  private readonly starts: number[] = [];
  private readonly chunks: Float32Array[] = [];
  private rowCount = 0;

  constructor(readonly dimensions: number) {
    assert.ok(Number.isSafeInteger(dimensions) && dimensions >= 1, 'dimensions must be a positive integer');
  }

  /** Rows held: ordinals 0 .. rows-1. */
  get rows(): number { return this.rowCount; }

  get chunkCount(): number { return this.chunks.length; }

  /** Appends `vectors` (a whole number of rows) as ordinals rows .. rows + n - 1. */
  append(firstOrdinal: number, vectors: Float32Array): void {
    assert.equal(firstOrdinal, this.rowCount, `vectors must be appended in order: expected ordinal ${this.rowCount}, got ${firstOrdinal}`);
    assert.equal(vectors.length % this.dimensions, 0, `vectors length ${vectors.length} is not a multiple of ${this.dimensions}`);
    const rows = vectors.length / this.dimensions;
    if (rows === 0) return;
    this.starts.push(this.rowCount);
    this.chunks.push(vectors);
    this.rowCount += rows;
  }

  /** The vector of `ordinal` (a view). */
  row(ordinal: number): Float32Array {
    const index = this.chunkIndex(ordinal);
    const at = (ordinal - this.starts[index]) * this.dimensions;
    return this.chunks[index].subarray(at, at + this.dimensions);
  }

  /** The pieces of rows [from, to), in order. */
  *ranges(from: number, to: number): Generator<ChunkRange> {
    to = Math.min(to, this.rowCount);
    if (from >= to) return;
    for (let index = this.chunkIndex(from); index < this.chunks.length && this.starts[index] < to; index++) {
      const firstOrdinal = this.starts[index];
      const rows = this.chunks[index].length / this.dimensions;
      yield {
        vectors: this.chunks[index], firstOrdinal,
        fromRow: Math.max(0, from - firstOrdinal), toRow: Math.min(rows, to - firstOrdinal),
      };
    }
  }

  /** Copies rows [from, to) into one new array. */
  copyRows(from: number, to: number): Float32Array {
    const out = new Float32Array((to - from) * this.dimensions);
    let at = 0;
    for (const range of this.ranges(from, to)) {
      const piece = range.vectors.subarray(range.fromRow * this.dimensions, range.toRow * this.dimensions);
      out.set(piece, at);
      at += piece.length;
    }
    assert.equal(at, out.length, `rows ${from}..${to} are not all held`);
    return out;
  }

  private chunkIndex(ordinal: number): number {
    // Not assert.ok(cond, `...`): the message would be built on every call (a hot path).
    if (!(ordinal >= 0 && ordinal < this.rowCount)) throw new RangeError(`ordinal ${ordinal} out of range (rows: ${this.rowCount})`);
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.starts[middle] <= ordinal) low = middle;
      else high = middle - 1;
    }
    return low;
  }
}
