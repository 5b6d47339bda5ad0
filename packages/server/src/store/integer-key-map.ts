/**
 * IntegerKeyMap: safe-integer keys -> non-negative integer values, an open-addressing hash
 * table (linear probing, backward-shift deletion) over two Float64Arrays. It exists because
 * every put to a dataset with an integer id column looks up and sets each row's id: a JS Map
 * costs ~60-200 ns per row and allocates per entry, this table ~10-20 ns and allocates only
 * when it grows.
 */
import assert from 'node:assert/strict';

const EMPTY = -1;
const CAPACITY_MIN = 16;

export class IntegerKeyMap {
  private keys = new Float64Array(CAPACITY_MIN);
  /** EMPTY marks a free slot; values are >= 0. */
  private values = new Float64Array(CAPACITY_MIN).fill(EMPTY);
  private mask = CAPACITY_MIN - 1;
  private count = 0;
  /**
   * A dense run: while every entry so far is `runKey + i -> runValue + i` (ids put in order,
   * row after row, the common case), the entries are these three numbers and the table stays
   * empty: no memory per row, no hashing. The first entry that breaks the pattern moves the run
   * into the table (`runActive` false from then on).
   */
  private runActive = true;
  private runKey = 0;
  private runValue = 0;
  private runLength = 0;

  get size(): number { return this.runActive ? this.runLength : this.count; }

  get(key: number): number | undefined {
    if (this.runActive) return this.runIndex(key) < 0 ? undefined : this.runValue + (key - this.runKey);
    for (let slot = this.slotOf(key); ; slot = (slot + 1) & this.mask) {
      const value = this.values[slot];
      if (value === EMPTY) return undefined;
      if (this.keys[slot] === key) return value;
    }
  }

  /** Sets `key` to `value` (>= 0); returns the value it replaced, or undefined. */
  set(key: number, value: number): number | undefined {
    assert.ok(value >= 0, 'IntegerKeyMap values are non-negative');
    if (this.runActive) {
      if (this.runLength === 0) {
        this.runKey = key;
        this.runValue = value;
        this.runLength = 1;
        return undefined;
      }
      if (key === this.runKey + this.runLength && value === this.runValue + this.runLength) {
        this.runLength++;
        return undefined;
      }
      this.leaveRun();
    }
    if ((this.count + 1) * 2 > this.values.length) this.grow();
    for (let slot = this.slotOf(key); ; slot = (slot + 1) & this.mask) {
      const previous = this.values[slot];
      if (previous === EMPTY) {
        this.keys[slot] = key;
        this.values[slot] = value;
        this.count++;
        return undefined;
      }
      if (this.keys[slot] === key) {
        this.values[slot] = value;
        return previous;
      }
    }
  }

  /** Removes `key` if it maps to `value`; returns whether it did. */
  deleteIf(key: number, value: number): boolean {
    if (this.runActive) {
      const index = this.runIndex(key);
      if (index < 0 || this.runValue + index !== value) return false;
      if (index === this.runLength - 1) {
        this.runLength--;
        return true;
      }
      this.leaveRun();
    }
    for (let slot = this.slotOf(key); ; slot = (slot + 1) & this.mask) {
      const current = this.values[slot];
      if (current === EMPTY) return false;
      if (this.keys[slot] === key) {
        if (current !== value) return false;
        this.removeAt(slot);
        return true;
      }
    }
  }

  /** Backward-shift deletion: later entries of the probe run move up, so no tombstones exist. */
  private removeAt(slot: number): void {
    let hole = slot;
    for (let next = (slot + 1) & this.mask; this.values[next] !== EMPTY; next = (next + 1) & this.mask) {
      const home = this.slotOf(this.keys[next]);
      // Move the entry into the hole unless its home lies cyclically in (hole, next].
      const stays = hole <= next ? hole < home && home <= next : hole < home || home <= next;
      if (stays) continue;
      this.keys[hole] = this.keys[next];
      this.values[hole] = this.values[next];
      hole = next;
    }
    this.values[hole] = EMPTY;
    this.count--;
  }

  private slotOf(key: number): number {
    // Mix both 32-bit halves (keys are safe integers, possibly negative) and spread the bits.
    const high = Math.floor(key / 4294967296) | 0;
    let hash = Math.imul((key | 0) ^ Math.imul(high, 0x85ebca6b), 0x9e3779b1);
    hash ^= hash >>> 15;
    return hash & this.mask;
  }

  /**
   * Makes room for `additional` more keys with at most one rehash (a batch of n new ids would
   * otherwise rehash up to log2(n) times while it is inserted).
   */
  reserve(additional: number): void {
    if (this.runActive) return; // the run needs no room; leaving it sizes the table
    const needed = (this.count + additional) * 2;
    if (needed <= this.values.length) return;
    let capacity = this.values.length;
    while (capacity < needed) capacity *= 2;
    this.rehash(capacity);
  }

  /** Index of `key` in the run, or -1. */
  private runIndex(key: number): number {
    const index = key - this.runKey;
    return index >= 0 && index < this.runLength && this.runKey + index === key ? index : -1;
  }

  /** Moves the run's entries into the table; the table holds everything from then on. */
  private leaveRun(): void {
    const { runKey, runValue, runLength } = this;
    this.runActive = false;
    this.runLength = 0;
    this.reserve(runLength + 1);
    for (let index = 0; index < runLength; index++) this.set(runKey + index, runValue + index);
  }

  private grow(): void {
    this.rehash(this.values.length * 2);
  }

  private rehash(capacity: number): void {
    const keys = this.keys;
    const values = this.values;
    this.keys = new Float64Array(capacity);
    this.values = new Float64Array(capacity).fill(EMPTY);
    this.mask = capacity - 1;
    for (let slot = 0; slot < values.length; slot++) {
      const value = values[slot];
      if (value === EMPTY) continue;
      let target = this.slotOf(keys[slot]);
      while (this.values[target] !== EMPTY) target = (target + 1) & this.mask;
      this.keys[target] = keys[slot];
      this.values[target] = value;
    }
  }
}
