/**
 * Arrow column data from plain JavaScript values, for a given type. Values are converted where
 * that loses nothing (a safe-integer number into int64, an ISO string into a timestamp); any
 * other mismatch is a TypeError naming the column and row, raised before anything is sent.
 */
import {
  Bool, DataType, Date_, FixedSizeList, Float, Float32, Float64, Int, LargeUtf8, Timestamp, TimeUnit, Utf8, makeData,
  vectorFromArray, type Data,
} from 'apache-arrow';
import { isNumericArray } from './infer-type.ts';

type Values = ArrayLike<unknown>;

function isNull(value: unknown): boolean {
  return value === null || value === undefined;
}

function mismatch(column: string, row: number, value: unknown, expected: string): TypeError {
  const shown = typeof value === 'string' ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)
    : typeof value === 'bigint' ? `${value}n` : Array.isArray(value) ? `an array of ${value.length}` : String(value);
  return new TypeError(`column "${column}", row ${row}: ${shown} is not ${expected}`);
}

/** Validity bitmap (bit set = present) and null count; no bitmap when nothing is null. */
export function validity(values: Values): { nullBitmap: Uint8Array | undefined; nullCount: number } {
  let nullCount = 0;
  for (let i = 0; i < values.length; i++) if (isNull(values[i])) nullCount++;
  if (nullCount === 0) return { nullBitmap: undefined, nullCount };
  const bitmap = new Uint8Array(((values.length + 63) >> 6) << 3);
  for (let i = 0; i < values.length; i++) if (!isNull(values[i])) bitmap[i >> 3] |= 1 << (i & 7);
  return { nullBitmap: bitmap, nullCount };
}

export function buildColumn(column: string, type: DataType, values: Values): Data {
  if (type instanceof Int && type.bitWidth === 64) return buildInt64(column, type, values);
  if (type instanceof Int || type instanceof Float) return buildNumbers(column, type, values);
  if (type instanceof Timestamp) return buildTimestamps(column, type, values);
  if (type instanceof FixedSizeList) return buildFixedSizeList(column, type, values);
  if (type instanceof Utf8 || type instanceof LargeUtf8) return vectorFromArray(toStrings(values), type).data[0];
  if (type instanceof Bool) return vectorFromArray(checked(column, values, (v) => typeof v === 'boolean', 'a boolean'), type).data[0];
  if (type instanceof Date_) return vectorFromArray(toDates(column, values), type).data[0];
  return vectorFromArray(Array.from(values), type).data[0];
}

function checked(column: string, values: Values, ok: (value: unknown) => boolean, expected: string): unknown[] {
  const out = Array.from(values);
  out.forEach((value, row) => {
    if (!isNull(value) && !ok(value)) throw mismatch(column, row, value, expected);
  });
  return out.map((value) => (isNull(value) ? null : value));
}

function toBigInt(column: string, row: number, value: unknown, unsigned: boolean): bigint {
  let big: bigint;
  if (typeof value === 'bigint') big = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) big = BigInt(value);
  else if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) big = BigInt(value.trim());
  else throw mismatch(column, row, value, 'an integer');
  const fits = unsigned ? big >= 0n && big < 1n << 64n : big >= -(1n << 63n) && big < 1n << 63n;
  if (!fits) throw mismatch(column, row, value, unsigned ? 'a uint64' : 'an int64');
  return big;
}

function buildInt64(column: string, type: Int, values: Values): Data {
  if (values instanceof BigInt64Array && type.isSigned) return makeData({ type, length: values.length, data: values });
  if (values instanceof BigUint64Array && !type.isSigned) return makeData({ type, length: values.length, data: values });
  const data = type.isSigned ? new BigInt64Array(values.length) : new BigUint64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (!isNull(value)) data[i] = toBigInt(column, i, value, !type.isSigned);
  }
  return makeData({ type, length: values.length, data, ...validity(values) });
}

function toNumber(column: string, row: number, value: unknown, isInteger: boolean): number {
  const number = typeof value === 'number' ? value
    : typeof value === 'bigint' ? Number(value)
      : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  if (typeof value !== 'number' && Number.isNaN(number)) throw mismatch(column, row, value, 'a number');
  if (isInteger && !Number.isInteger(number)) throw mismatch(column, row, value, 'an integer');
  return number;
}

function buildNumbers(column: string, type: Int | Float, values: Values): Data {
  const isInteger = type instanceof Int;
  if (type instanceof Float && type.precision === 0) {
    const halves = Array.from(values, (value, row) => (isNull(value) ? null : toNumber(column, row, value, false)));
    return vectorFromArray(halves, type).data[0];
  }
  const ArrayType = type.ArrayType as unknown as { new(length: number): Float64Array };
  if (ArrayBuffer.isView(values) && values.constructor === ArrayType) {
    return makeData({ type: type as Float64, length: values.length, data: values as Float64Array });
  }
  const data = new ArrayType(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (!isNull(value)) data[i] = toNumber(column, i, value, isInteger);
  }
  return makeData({ type: type as Float64, length: values.length, data, ...validity(values) });
}

function unitsPerMillisecond(unit: TimeUnit): number {
  return unit === TimeUnit.SECOND ? 1e-3 : unit === TimeUnit.MILLISECOND ? 1 : unit === TimeUnit.MICROSECOND ? 1e3 : 1e6;
}

function buildTimestamps(column: string, type: Timestamp, values: Values): Data {
  const data = new BigInt64Array(values.length);
  const scale = unitsPerMillisecond(type.unit);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (isNull(value)) continue;
    if (typeof value === 'bigint') data[i] = value;
    else if (typeof value === 'number' && Number.isSafeInteger(value)) data[i] = BigInt(value);
    else {
      const ms = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : Number.NaN;
      if (Number.isNaN(ms)) throw mismatch(column, i, value, 'a date, an ISO-8601 time or an integer');
      data[i] = BigInt(Math.round(ms * scale));
    }
  }
  return makeData({ type, length: values.length, data, ...validity(values) });
}

function toDates(column: string, values: Values): (Date | null)[] {
  return Array.from(values, (value, row) => {
    if (isNull(value)) return null;
    const date = value instanceof Date ? value : typeof value === 'string' || typeof value === 'number' ? new Date(value) : null;
    if (date === null || Number.isNaN(date.getTime())) throw mismatch(column, row, value, 'a date');
    return date;
  });
}

function toStrings(values: Values): (string | null)[] {
  return Array.from(values, (value) => {
    if (isNull(value)) return null;
    if (typeof value === 'string') return value;
    if (value instanceof Date) return value.toISOString();
    if (typeof value === 'object') return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    return String(value);
  });
}

function buildFixedSizeList(column: string, type: FixedSizeList, values: Values): Data {
  const dimensions = type.listSize;
  const childType = type.children[0].type;
  if (!(childType instanceof Float || childType instanceof Int) || (childType instanceof Int && childType.bitWidth === 64)) {
    return vectorFromArray(Array.from(values), type).data[0];
  }
  const ChildArray = childType.ArrayType as unknown as { new(length: number): Float32Array };
  const flat = new ChildArray(values.length * dimensions);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (isNull(value)) continue;
    if (!isNumericArray(value)) throw mismatch(column, i, value, `a list of ${dimensions} numbers`);
    if (value.length !== dimensions) throw mismatch(column, i, value, `a list of ${dimensions} numbers (the column's dimension)`);
    flat.set(value as ArrayLike<number>, i * dimensions);
  }
  const child = makeData({ type: childType as Float32, length: flat.length, data: flat as Float32Array });
  return makeData({ type, length: values.length, child, ...validity(values) });
}

/** A vector column straight from one flat array of `rows * dimensions` numbers (no per-row copy for Float32Array). */
export function flatVectorColumn(type: FixedSizeList, flat: ArrayLike<number>): Data {
  const dimensions = type.listSize;
  if (flat.length % dimensions !== 0) {
    throw new TypeError(`a flat vector array of ${flat.length} numbers is not a whole number of ${dimensions}-dimension vectors`);
  }
  const childType = type.children[0].type as Float;
  const ChildArray = childType.ArrayType as unknown as { new(values: ArrayLike<number>): Float32Array; from(v: ArrayLike<number>): Float32Array };
  const data = flat instanceof (ChildArray as unknown as typeof Float32Array) ? flat as Float32Array : ChildArray.from(flat);
  const child = makeData({ type: childType, length: data.length, data });
  return makeData({ type, length: data.length / dimensions, child });
}
