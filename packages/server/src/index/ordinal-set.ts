/** A set of row ordinals as a growable bitset: one bit per row, whatever the number of members. */
export class OrdinalSet {
  // Empty until the first member: an index with no deleted rows holds no bitmap.
  private words = new Uint32Array(0);
  private members = 0;

  get size(): number { return this.members; }

  /** Bytes held. */
  get bytes(): number { return this.words.byteLength; }

  has(ordinal: number): boolean {
    const word = ordinal >>> 5;
    return word < this.words.length && (this.words[word] & (1 << (ordinal & 31))) !== 0;
  }

  /** Adds `ordinal`; returns whether it was new. */
  add(ordinal: number): boolean {
    const word = ordinal >>> 5;
    if (word >= this.words.length) {
      const grown = new Uint32Array(Math.max(word + 1, this.words.length * 2));
      grown.set(this.words);
      this.words = grown;
    }
    const bit = 1 << (ordinal & 31);
    if ((this.words[word] & bit) !== 0) return false;
    this.words[word] |= bit;
    this.members++;
    return true;
  }

  static from(ordinals: ArrayLike<number>): OrdinalSet {
    const set = new OrdinalSet();
    for (let i = 0; i < ordinals.length; i++) set.add(ordinals[i]);
    return set;
  }
}
