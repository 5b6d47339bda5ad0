/**
 * The id index of a dataset with an `id` column: id -> ordinal of the live row holding it.
 *
 * Ids are kept as normalized keys so that the same id always finds the same entry, however it
 * arrives: integer ids (int32, uint32, int64, uint64) as a number when they are safe integers
 * (|id| < 2^53) and as a bigint beyond; utf8 ids as strings. Null ids are not indexed.
 */
import type { Data } from 'apache-arrow';
import { longbowError } from '../errors.ts';
import { IntegerKeyMap } from './integer-key-map.ts';
import type { IdColumn } from './schema-rules.ts';

export type IdType = IdColumn['type'];
export type IdKey = number | bigint | string;
/** An id as callers give it: a JSON number, a digit string for integer columns, a bigint. */
export type IdValue = string | number | bigint;

const RANGES: Record<Exclude<IdType, 'utf8'>, readonly [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

/** The part of each range that numbers hold exactly (the fast path of normalizeId). */
const NUMBER_RANGES: Record<Exclude<IdType, 'utf8'>, readonly [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};

function keyOfBigint(value: bigint): IdKey {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

function describe(value: unknown): string {
  if (typeof value === 'bigint') return `${value}`;
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * The key of an id given by a client for a column of `type`. Integer columns take integers
 * (JSON numbers, bigints, or strings of digits such as "-12", exact beyond 2^53) within the
 * type's range; utf8 columns take strings. Throws INVALID_ID otherwise, the message starting
 * with `label` (e.g. "ids[3]") when given.
 */
export function normalizeId(type: IdType, value: unknown, label?: string): IdKey {
  const at = label === undefined ? '' : `${label}: `;
  if (type === 'utf8') {
    if (typeof value !== 'string') throw longbowError('INVALID_ID', `${at}${describe(value)} is not a string (the id column is utf8)`);
    return value;
  }
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= NUMBER_RANGES[type][0] && value <= NUMBER_RANGES[type][1]) {
    return value === 0 ? 0 : value; // -0 and 0 are one id
  }
  let integer: bigint | undefined;
  if (typeof value === 'bigint') integer = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) integer = BigInt(value);
  else if (typeof value === 'string' && /^-?\d{1,40}$/.test(value)) integer = BigInt(value);
  if (integer === undefined) {
    throw longbowError('INVALID_ID', `${at}${describe(value)} is not an integer (the id column is ${type}; give integers as numbers or digit strings)`);
  }
  const [min, max] = RANGES[type];
  if (integer < min || integer > max) throw longbowError('INVALID_ID', `${at}${integer} is out of range for ${type}`);
  return keyOfBigint(integer);
}

/** Reads the key of row `row` of an id column (undefined for a null id). */
export type IdKeyReader = (row: number) => IdKey | undefined;

/** A reader of the keys of `data`, a column of `type` (int32, uint32, int64, uint64 or utf8). */
export function idKeyReader(type: IdType, data: Data): IdKeyReader {
  const valid = data.nullCount === 0 ? () => true : (row: number) => data.getValid(row);
  if (type === 'int32' || type === 'uint32') {
    const values = data.values as Int32Array | Uint32Array;
    return (row) => (valid(row) ? values[row] : undefined);
  }
  if (type === 'int64' || type === 'uint64') {
    const values = data.values as BigInt64Array | BigUint64Array;
    // Read both 32-bit halves: most ids are safe integers and need no bigint at all.
    const words = new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
    const signed = type === 'int64';
    return (row) => {
      if (!valid(row)) return undefined;
      const low = words[2 * row];
      const high = signed ? words[2 * row + 1] | 0 : words[2 * row + 1];
      const value = high * 4294967296 + low;
      return Number.isSafeInteger(value) ? value : keyOfBigint(BigInt(values[row]));
    };
  }
  const offsets = data.valueOffsets as Int32Array;
  const bytes = data.values as Uint8Array;
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength); // a view: decoding slices is native
  return (row) => (valid(row) ? text.toString('utf8', offsets[row], offsets[row + 1]) : undefined);
}

/**
 * The id -> ordinal map. Holds one entry per live row with a non-null id; the store keeps it
 * in step with appends (upserts) and deletions.
 */
export class IdIndex {
  /** Number keys (integer ids that are safe integers: nearly all of them). */
  private readonly byNumber = new IntegerKeyMap();
  /** Strings (utf8 ids) and bigints (integer ids beyond 2^53). */
  private readonly byOther = new Map<IdKey, number>();

  constructor(readonly type: IdType) {}

  get size(): number { return this.byNumber.size + this.byOther.size; }

  get(key: IdKey): number | undefined {
    return typeof key === 'number' ? this.byNumber.get(key) : this.byOther.get(key);
  }

  /**
   * Indexes rows `0 .. rows` of an id column whose row 0 has ordinal `firstOrdinal`. Returns
   * the ordinals whose id a row of this batch takes over: older rows, and earlier rows of this
   * batch with the same id (the last occurrence wins). Those rows are to be deleted.
   */
  addRows(data: Data, rows: number, firstOrdinal: number): number[] {
    const read = idKeyReader(this.type, data);
    if (this.type !== 'utf8') this.byNumber.reserve(rows);
    const replaced: number[] = [];
    for (let row = 0; row < rows; row++) {
      const key = read(row);
      if (key === undefined) continue;
      let previous: number | undefined;
      if (typeof key === 'number') {
        previous = this.byNumber.set(key, firstOrdinal + row);
      } else {
        previous = this.byOther.get(key);
        this.byOther.set(key, firstOrdinal + row);
      }
      if (previous !== undefined) replaced.push(previous);
    }
    return replaced;
  }

  /** Removes `key` if it points at `ordinal` (a row being deleted). */
  removeIfAt(key: IdKey, ordinal: number): void {
    if (typeof key === 'number') this.byNumber.deleteIf(key, ordinal);
    else if (this.byOther.get(key) === ordinal) this.byOther.delete(key);
  }
}
