/**
 * The filter language shared by DoGet tickets and (later) vector search:
 * `[{"field": "price", "op": ">=", "value": 10}, ...]`, combined with AND.
 * Operators: = == eq, != neq, > gt, < lt, >= ge, <= le, contains (strings).
 * Null cells match no operator. Filters compile once per schema into column predicates
 * that fill a row mask batch by batch.
 */
import { DataType, Precision, TimeUnit, Vector, type Data, type RecordBatch, type Schema } from 'apache-arrow';
import { longbowError } from '../errors.ts';
import { FILTERS_PER_REQUEST_MAX } from '../limits.ts';

export type FilterOp = 'eq' | 'neq' | 'gt' | 'lt' | 'ge' | 'le' | 'contains';

const OP_ALIASES: Record<string, FilterOp> = {
  '=': 'eq', '==': 'eq', eq: 'eq', '!=': 'neq', neq: 'neq', '>': 'gt', gt: 'gt', '<': 'lt', lt: 'lt',
  '>=': 'ge', ge: 'ge', '<=': 'le', le: 'le', contains: 'contains',
};

export interface Filter {
  field: string;
  op: FilterOp;
  value: unknown;
}

/** Parses the JSON filter list (already JSON-decoded); throws INVALID_FILTER. */
export function parseFilters(input: unknown): Filter[] {
  if (input === undefined || input === null) return [];
  if (!Array.isArray(input)) throw longbowError('INVALID_FILTER', 'filters must be a list of {"field","op","value"}');
  if (input.length > FILTERS_PER_REQUEST_MAX) throw longbowError('INVALID_FILTER', `at most ${FILTERS_PER_REQUEST_MAX} filters per request`);
  return input.map((item: unknown, index) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw longbowError('INVALID_FILTER', `filter ${index} must be an object with "field", "op" and "value"`);
    }
    const record = item as Record<string, unknown>;
    const extra = Object.keys(record).filter((key) => !['field', 'op', 'operator', 'value'].includes(key));
    if (extra.length > 0) throw longbowError('INVALID_FILTER', `filter ${index} has unknown key "${extra[0]}" (use field, op, value)`);
    const field = record.field;
    const opText = record.op ?? record.operator;
    if (typeof field !== 'string' || field === '') throw longbowError('INVALID_FILTER', `filter ${index} needs a "field" string`);
    if (typeof opText !== 'string') throw longbowError('INVALID_FILTER', `filter ${index} needs an "op" string`);
    const op = OP_ALIASES[opText.toLowerCase()];
    if (op === undefined) {
      throw longbowError('INVALID_FILTER', `unknown operator "${opText}" (use = != > < >= <= contains)`);
    }
    if (!('value' in record)) throw longbowError('INVALID_FILTER', `filter ${index} needs a "value"`);
    return { field, op, value: record.value };
  });
}

/** Sets mask[i] = 0 for every row i that fails; rows already 0 stay 0. */
type ColumnPredicate = (column: Data, mask: Uint8Array) => void;

export interface CompiledFilter {
  columnIndex: number;
  predicate: ColumnPredicate;
}

function compare(op: FilterOp, left: number | bigint | string, right: number | bigint | string): boolean {
  switch (op) {
    case 'eq': return left === right;
    case 'neq': return left !== right;
    case 'gt': return left > right;
    case 'lt': return left < right;
    case 'ge': return left >= right;
    case 'le': return left <= right;
    case 'contains': return typeof left === 'string' && left.includes(right as string);
  }
}

function clearNulls(column: Data, mask: Uint8Array): void {
  if (column.nullCount === 0) return;
  for (let i = 0; i < column.length; i++) if (!column.getValid(i)) mask[i] = 0;
}

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * Nanoseconds since the epoch of an ISO-8601 time, exact to the nanosecond. A time without an
 * offset is UTC (never the server's local zone), like the values of timezone-naive columns.
 */
export function isoToEpochNanoseconds(text: string): bigint | undefined {
  const match = ISO_TIME.exec(text.trim());
  if (!match) return undefined;
  const [, year, month, day, hour = '0', minute = '0', second = '0', fraction = '', offset] = match;
  const ms = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second));
  if (Number.isNaN(ms) || Number(month) > 12 || Number(day) > 31 || Number(hour) > 23 || Number(minute) > 59 || Number(second) > 60) {
    return undefined;
  }
  let offsetMinutes = 0;
  if (offset && offset.toUpperCase() !== 'Z') {
    const digits = offset.replace(':', '');
    offsetMinutes = (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5) || '0')) * (digits[0] === '-' ? -1 : 1);
  }
  return (BigInt(ms) - BigInt(offsetMinutes) * 60_000n) * 1_000_000n + BigInt(fraction.padEnd(9, '0'));
}

function unitNanoseconds(unit: TimeUnit): bigint {
  return { [TimeUnit.SECOND]: 1_000_000_000n, [TimeUnit.MILLISECOND]: 1_000_000n, [TimeUnit.MICROSECOND]: 1_000n, [TimeUnit.NANOSECOND]: 1n }[unit];
}

/** Epoch nanoseconds in a timestamp column's unit (rounded down). */
function nanosecondsToUnit(nanoseconds: bigint, unit: TimeUnit): bigint {
  const divisor = unitNanoseconds(unit);
  const quotient = nanoseconds / divisor;
  return nanoseconds < 0n && quotient * divisor !== nanoseconds ? quotient - 1n : quotient;
}

/** An integer target; `exact` is false when the value lies strictly between target and target + 1. */
interface IntegerTarget { target: bigint; exact: boolean }

function bigintFilterValue(filter: Filter, type: DataType): IntegerTarget {
  const { value } = filter;
  if (typeof value === 'number' && Number.isInteger(value)) return { target: BigInt(value), exact: true };
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return { target: BigInt(value.trim()), exact: true };
  if (typeof value === 'number' && Number.isFinite(value)) return { target: BigInt(Math.floor(value)), exact: false };
  if (typeof value === 'string' && DataType.isTimestamp(type)) {
    const nanoseconds = isoToEpochNanoseconds(value);
    if (nanoseconds !== undefined) {
      const target = nanosecondsToUnit(nanoseconds, type.unit);
      return { target, exact: nanoseconds === target * unitNanoseconds(type.unit) };
    }
  }
  throw longbowError('INVALID_FILTER', `value ${JSON.stringify(value)} for "${filter.field}" must be an integer${DataType.isTimestamp(type) ? ' or an ISO-8601 time' : ''}`);
}

function numberFilterValue(filter: Filter, type: DataType): number {
  const { value } = filter;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  throw longbowError('INVALID_FILTER', `value ${JSON.stringify(value)} for "${filter.field}" must be a number`);
}

/**
 * An inexact integer target t + 0.5 (a fraction, or a time finer than the column's unit) on
 * integer values x: x > t+0.5 is x > t, x <= t+0.5 is x <= t, x >= t+0.5 is x >= t+1,
 * x < t+0.5 is x < t+1, = never holds and != always does.
 */
function integerComparison(op: FilterOp, { target, exact }: IntegerTarget): { op: FilterOp | 'never' | 'always'; target: bigint } {
  if (exact) return { op, target };
  switch (op) {
    case 'eq': return { op: 'never', target };
    case 'neq': return { op: 'always', target };
    case 'ge': case 'lt': return { op, target: target + 1n };
    default: return { op, target };
  }
}

function numericPredicate(filter: Filter, type: DataType): ColumnPredicate {
  if (filter.op === 'contains') throw longbowError('INVALID_FILTER', `"contains" needs a string column, "${filter.field}" is ${type}`);
  const isHalfFloat = DataType.isFloat(type) && type.precision === Precision.HALF;
  const integerValued = DataType.isInt(type) || DataType.isTimestamp(type) || DataType.isDate(type);
  const integer = integerValued ? integerComparison(filter.op, bigintFilterValue(filter, type)) : undefined;
  const number = integerValued ? undefined : numberFilterValue(filter, type);
  return (column, mask) => {
    const values = column.values as unknown as ArrayLike<number | bigint>;
    const vector = isHalfFloat ? new Vector([column]) : undefined;
    if (integer !== undefined && (integer.op === 'never' || integer.op === 'always')) {
      if (integer.op === 'never') mask.fill(0);
      clearNulls(column, mask);
      return;
    }
    const op = (integer?.op ?? filter.op) as FilterOp;
    const isBig = values instanceof BigInt64Array || values instanceof BigUint64Array;
    const right = integer !== undefined ? (isBig ? integer.target : Number(integer.target)) : (number as number);
    for (let i = 0; i < column.length; i++) {
      if (!mask[i]) continue;
      const left = vector ? (vector.get(i) as number) : values[i];
      if (!compare(op, left, right)) mask[i] = 0;
    }
    clearNulls(column, mask);
  };
}

function stringPredicate(filter: Filter): ColumnPredicate {
  if (typeof filter.value !== 'string') {
    throw longbowError('INVALID_FILTER', `value ${JSON.stringify(filter.value)} for "${filter.field}" must be a string`);
  }
  const target = filter.value;
  return (column, mask) => {
    const vector = new Vector([column]);
    for (let i = 0; i < column.length; i++) {
      if (!mask[i]) continue;
      const cell = vector.get(i) as string | null;
      if (cell === null || !compare(filter.op, cell, target)) mask[i] = 0;
    }
  };
}

function boolPredicate(filter: Filter): ColumnPredicate {
  if (filter.op !== 'eq' && filter.op !== 'neq') throw longbowError('INVALID_FILTER', `"${filter.field}" is boolean: use = or !=`);
  if (typeof filter.value !== 'boolean') throw longbowError('INVALID_FILTER', `value for "${filter.field}" must be true or false`);
  const target = filter.value;
  return (column, mask) => {
    const vector = new Vector([column]);
    for (let i = 0; i < column.length; i++) {
      if (!mask[i]) continue;
      const cell = vector.get(i) as boolean | null;
      if (cell === null || (cell === target) !== (filter.op === 'eq')) mask[i] = 0;
    }
  };
}

/** Dictionary columns: evaluate once per dictionary entry, then map the indices. */
function dictionaryPredicate(filter: Filter, inner: ColumnPredicate): ColumnPredicate {
  return (column, mask) => {
    const dictionary = column.dictionary;
    if (!dictionary) return mask.fill(0) as unknown as void;
    const entries = dictionary.data.flatMap((chunk) => [chunk]);
    const matches: Uint8Array[] = entries.map((chunk) => { const m = new Uint8Array(chunk.length).fill(1); inner(chunk, m); return m; });
    const flat = new Uint8Array(dictionary.length);
    let position = 0;
    for (const m of matches) { flat.set(m, position); position += m.length; }
    const indices = column.values as unknown as ArrayLike<number | bigint>;
    for (let i = 0; i < column.length; i++) {
      if (mask[i] && !flat[Number(indices[i])]) mask[i] = 0;
    }
    clearNulls(column, mask);
  };
}

function predicateFor(filter: Filter, type: DataType): ColumnPredicate {
  if (DataType.isDictionary(type)) return dictionaryPredicate(filter, predicateFor(filter, type.dictionary));
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type)) return stringPredicate(filter);
  if (DataType.isBool(type)) return boolPredicate(filter);
  if (DataType.isInt(type) || DataType.isFloat(type) || DataType.isTimestamp(type) || DataType.isDate(type)) {
    return numericPredicate(filter, type);
  }
  throw longbowError('INVALID_FILTER', `cannot filter on "${filter.field}" of type ${type}`);
}

/** Binds filters to a schema's columns; throws INVALID_FILTER for unknown columns or bad values. */
export function compileFilters(filters: Filter[], schema: Schema): CompiledFilter[] {
  return filters.map((filter) => {
    const columnIndex = schema.fields.findIndex((field) => field.name === filter.field);
    if (columnIndex < 0) throw longbowError('INVALID_FILTER', `unknown column "${filter.field}"`);
    return { columnIndex, predicate: predicateFor(filter, schema.fields[columnIndex].type) };
  });
}

/** Row numbers of `batch` that pass every filter, or undefined when there are no filters. */
export function selectRows(batch: RecordBatch, compiled: CompiledFilter[]): Uint32Array | undefined {
  if (compiled.length === 0) return undefined;
  const mask = new Uint8Array(batch.numRows).fill(1);
  for (const { columnIndex, predicate } of compiled) {
    const column = batch.data.children[columnIndex];
    if (column === undefined) {
      mask.fill(0); // a column added after this batch was written: every cell is null
      break;
    }
    predicate(column, mask);
  }
  let count = 0;
  for (let i = 0; i < mask.length; i++) count += mask[i];
  const rows = new Uint32Array(count);
  for (let i = 0, j = 0; i < mask.length; i++) if (mask[i]) rows[j++] = i;
  return rows;
}
