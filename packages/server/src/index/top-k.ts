/**
 * The k best (lowest rank key) rows seen so far: a bounded max-heap on typed arrays. Ties are
 * broken by ordinal (lower first), so every search path returns the same order for the same
 * keys. NaN and infinite keys never enter (a vector with NaN or infinite values never matches).
 */
export class TopK {
  /** Rows kept; at most `k`. */
  size = 0;
  /** The worst kept key once full (a key must be <= this to enter), else +Infinity. */
  threshold = Number.POSITIVE_INFINITY;
  private readonly keys: Float64Array;
  private readonly ordinals: Float64Array;

  constructor(readonly k: number) {
    if (!(Number.isSafeInteger(k) && k >= 1)) throw new RangeError(`k must be a positive integer, got ${k}`);
    this.keys = new Float64Array(k);
    this.ordinals = new Float64Array(k);
  }

  /** Offers a row; keeps it if it is among the k best so far. */
  push(key: number, ordinal: number): void {
    if (!(key <= this.threshold) || key - key !== 0) return; // NaN or infinite: never a match
    const { keys, ordinals } = this;
    if (this.size < this.k) {
      // Sift up from the end.
      let at = this.size++;
      while (at > 0) {
        const parent = (at - 1) >> 1;
        if (!worse(key, ordinal, keys[parent], ordinals[parent])) break;
        keys[at] = keys[parent];
        ordinals[at] = ordinals[parent];
        at = parent;
      }
      keys[at] = key;
      ordinals[at] = ordinal;
      if (this.size === this.k) this.threshold = keys[0];
      return;
    }
    if (!worse(keys[0], ordinals[0], key, ordinal)) return; // equal key, higher ordinal
    this.replaceTop(key, ordinal);
    this.threshold = keys[0];
  }

  /** Offers every row of a block of keys (`keys[i]` for row `firstOrdinal + i`). */
  pushBlock(keys: Float32Array, rows: number, firstOrdinal: number, allowed?: (ordinal: number) => boolean): void {
    for (let i = 0; i < rows; i++) {
      const key = keys[i];
      if (key <= this.threshold && (allowed === undefined || allowed(firstOrdinal + i))) this.push(key, firstOrdinal + i);
    }
  }

  /** Whether `ordinal` is kept (linear: for small k and tests). */
  has(ordinal: number): boolean {
    for (let i = 0; i < this.size; i++) if (this.ordinals[i] === ordinal) return true;
    return false;
  }

  /** The kept rows, best first. */
  sorted(): { keys: number[]; ordinals: number[] } {
    const order = Array.from({ length: this.size }, (_, i) => i);
    order.sort((a, b) => (worse(this.keys[a], this.ordinals[a], this.keys[b], this.ordinals[b]) ? 1 : -1));
    return { keys: order.map((i) => this.keys[i]), ordinals: order.map((i) => this.ordinals[i]) };
  }

  private replaceTop(key: number, ordinal: number): void {
    const { keys, ordinals, size } = this;
    let at = 0;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= size) break;
      const right = left + 1;
      let child = left;
      if (right < size && worse(keys[right], ordinals[right], keys[left], ordinals[left])) child = right;
      if (!worse(keys[child], ordinals[child], key, ordinal)) break;
      keys[at] = keys[child];
      ordinals[at] = ordinals[child];
      at = child;
    }
    keys[at] = key;
    ordinals[at] = ordinal;
  }
}

/** Whether (keyA, ordinalA) ranks after (keyB, ordinalB). */
function worse(keyA: number, ordinalA: number, keyB: number, ordinalB: number): boolean {
  return keyA > keyB || (keyA === keyB && ordinalA > ordinalB);
}
