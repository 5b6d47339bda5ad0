/**
 * DatasetRows: an immutable view of a dataset's rows: its batches, the ordinal of each batch's
 * first row, and which rows are deleted (tombstones).
 *
 * A row's ordinal is its 0-based position among all rows ever appended to the dataset (batch
 * order, then row order); deleted rows keep their ordinals, so ordinals never move. Tombstones
 * are one bitmap per batch (bit r set: row r of that batch is deleted; LSB-first as in Arrow),
 * allocated on the first deletion in the batch. Every change returns a new view and copies
 * only what it changes (the batch arrays, and the bitmaps of the batches it touches), so a
 * reader holding a view sees one consistent state however long it runs.
 */
import assert from 'node:assert/strict';
import type { RecordBatch } from 'apache-arrow';

/** Whether bit `index` of an LSB-first bitmap is set. */
export function bitIsSet(bitmap: Uint8Array, index: number): boolean {
  return (bitmap[index >> 3] & (1 << (index & 7))) !== 0;
}

const BITS_SET = Uint8Array.from({ length: 256 }, (_, value) => {
  let count = 0;
  for (let bits = value; bits !== 0; bits &= bits - 1) count++;
  return count;
});

/** Number of bits set in a bitmap. */
export function countSetBits(bitmap: Uint8Array): number {
  let count = 0;
  for (let index = 0; index < bitmap.length; index++) count += BITS_SET[bitmap[index]];
  return count;
}

export class DatasetRows {
  static readonly empty = new DatasetRows([], [], [], 0, 0);

  private constructor(
    /** The stored batches, in append order. */
    readonly batches: readonly RecordBatch[],
    /** firstOrdinals[i]: ordinal of row 0 of batches[i]. */
    readonly firstOrdinals: readonly number[],
    /** deletedBitmaps[i]: tombstones of batches[i] (undefined: no row of it is deleted). */
    readonly deletedBitmaps: readonly (Uint8Array | undefined)[],
    /** Rows ever appended: the next ordinal. */
    readonly totalRows: number,
    /** Rows deleted (each counted once). */
    readonly deletedRows: number,
  ) {}

  /** Rows not deleted. */
  get liveRows(): number { return this.totalRows - this.deletedRows; }

  withBatch(batch: RecordBatch): DatasetRows {
    return new DatasetRows(
      [...this.batches, batch], [...this.firstOrdinals, this.totalRows], [...this.deletedBitmaps, undefined],
      this.totalRows + batch.numRows, this.deletedRows,
    );
  }

  /**
   * Marks `ordinals` deleted (each must be < totalRows). Returns the new view and the ordinals
   * that were live before, ascending and without repeats.
   */
  withDeleted(ordinals: Iterable<number>): { rows: DatasetRows; deleted: number[] } {
    const sorted = ascending([...ordinals]);
    const deleted: number[] = [];
    const bitmaps = [...this.deletedBitmaps];
    let copiedBatch = -1; // ordinals ascend, so batches are visited in order: only the current one may be copied yet
    let batchIndex = 0;
    for (const ordinal of sorted) {
      assert.ok(Number.isSafeInteger(ordinal) && ordinal >= 0 && ordinal < this.totalRows, `ordinal ${ordinal} out of range`);
      if (deleted.length > 0 && deleted[deleted.length - 1] === ordinal) continue;
      while (this.firstOrdinals[batchIndex] + this.batches[batchIndex].numRows <= ordinal) batchIndex++;
      const row = ordinal - this.firstOrdinals[batchIndex];
      let bitmap = bitmaps[batchIndex];
      if (bitmap !== undefined && bitIsSet(bitmap, row)) continue;
      if (copiedBatch !== batchIndex) {
        bitmap = bitmap === undefined ? new Uint8Array((this.batches[batchIndex].numRows + 7) >> 3) : bitmap.slice();
        bitmaps[batchIndex] = bitmap;
        copiedBatch = batchIndex;
      }
      bitmap![row >> 3] |= 1 << (row & 7);
      deleted.push(ordinal);
    }
    if (deleted.length === 0) return { rows: this, deleted };
    const rows = new DatasetRows(this.batches, this.firstOrdinals, bitmaps, this.totalRows, this.deletedRows + deleted.length);
    return { rows, deleted };
  }

  /** Index of the batch holding `ordinal` (binary search). */
  batchIndexOf(ordinal: number): number {
    assert.ok(Number.isSafeInteger(ordinal) && ordinal >= 0 && ordinal < this.totalRows, `ordinal ${ordinal} out of range`);
    let low = 0;
    let high = this.batches.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.firstOrdinals[middle] <= ordinal) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  /** The batch and the row within it of `ordinal`. */
  locate(ordinal: number): { batchIndex: number; batch: RecordBatch; row: number } {
    const batchIndex = this.batchIndexOf(ordinal);
    return { batchIndex, batch: this.batches[batchIndex], row: ordinal - this.firstOrdinals[batchIndex] };
  }

  isDeleted(ordinal: number): boolean {
    if (this.deletedRows === 0) return false;
    const { batchIndex, row } = this.locate(ordinal);
    const bitmap = this.deletedBitmaps[batchIndex];
    return bitmap !== undefined && bitIsSet(bitmap, row);
  }

  /** One bitmap over every ordinal (bit i set: ordinal i deleted), ceil(totalRows / 8) bytes. */
  deletedBitmap(): Uint8Array {
    const bitmap = new Uint8Array((this.totalRows + 7) >> 3);
    this.batches.forEach((batch, index) => {
      const own = this.deletedBitmaps[index];
      if (own === undefined) return;
      const first = this.firstOrdinals[index];
      for (let row = 0; row < batch.numRows; row++) {
        if (bitIsSet(own, row)) bitmap[(first + row) >> 3] |= 1 << ((first + row) & 7);
      }
    });
    return bitmap;
  }
}

/** `values` sorted ascending (already sorted input, the usual case, costs one pass). */
function ascending(values: number[]): readonly number[] | Float64Array {
  for (let index = 1; index < values.length; index++) {
    if (values[index - 1] > values[index]) return Float64Array.from(values).sort(); // numeric sort, no comparator calls
  }
  return values;
}

/**
 * Rows `0 .. length` of a batch slice starting at row `sliceStart` of its batch, minus those
 * `bitmap` marks deleted; `rows` (ascending row numbers within the slice) narrows the choice
 * first. Returns undefined when every row of the slice is kept.
 */
export function withoutDeletedRows(rows: Uint32Array | undefined, length: number, bitmap: Uint8Array, sliceStart: number): Uint32Array | undefined {
  const candidates = rows ?? Uint32Array.from({ length }, (_, i) => i);
  const kept = new Uint32Array(candidates.length);
  let count = 0;
  for (const row of candidates) {
    if (!bitIsSet(bitmap, sliceStart + row)) kept[count++] = row;
  }
  if (rows === undefined && count === length) return undefined;
  return count === kept.length ? kept : kept.subarray(0, count);
}
