/**
 * Arrow types for plain JavaScript values, for datasets created from objects, columns, CSV or
 * JSON lines. The rules, in order, over the non-null values of a column:
 *
 * | values | type |
 * |---|---|
 * | numbers, all integers (and bigints) | int64 |
 * | numbers, some fractional | float64 |
 * | bigints | int64 |
 * | booleans | bool |
 * | strings | utf8 |
 * | Dates | timestamp[ms, UTC] |
 * | numeric arrays / typed arrays of one length `dim` | FixedSizeList<float32>[dim] |
 * | anything else or a mix | utf8 (objects as JSON text) |
 *
 * Every inferred field is nullable (so a later put with a missing value keeps the same schema),
 * as pyarrow's defaults are; the list item field is `item: float32` (nullable), as pyarrow's.
 */
import {
  Bool, DataType, Field, FixedSizeList, Float32, Float64, Int32, Int64, TimeUnit, Timestamp, Utf8,
} from 'apache-arrow';

/** Names for types the CLI's `--type` and the client's `types` option accept. */
export type ColumnTypeName = 'int64' | 'int32' | 'float64' | 'float32' | 'utf8' | 'string' | 'bool' | 'timestamp' | 'vector' | 'json';

/** Column names whose arrays are vectors (the server's vector column roles). */
export const VECTOR_COLUMN_NAMES: readonly string[] = ['vector', 'embedding'];

export function vectorType(dimensions: number): FixedSizeList<Float32> {
  return new FixedSizeList(dimensions, new Field('item', new Float32(), true));
}

export function isNumericArray(value: unknown): value is ArrayLike<number> {
  if (ArrayBuffer.isView(value)) return !(value instanceof DataView) && !(value instanceof BigInt64Array) && !(value instanceof BigUint64Array);
  return Array.isArray(value) && value.every((item) => typeof item === 'number');
}

/** The type of one column from its values (see the table above). */
export function inferType(name: string, values: ArrayLike<unknown>): DataType {
  let numbers = 0, fractional = 0, bigints = 0, booleans = 0, strings = 0, dates = 0, arrays = 0, others = 0, present = 0;
  let dimensions = -1;
  let mixedLengths = false;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null || value === undefined) continue;
    present++;
    if (typeof value === 'number') {
      numbers++;
      if (!Number.isSafeInteger(value)) fractional++;
    } else if (typeof value === 'bigint') bigints++;
    else if (typeof value === 'boolean') booleans++;
    else if (typeof value === 'string') strings++;
    else if (value instanceof Date) dates++;
    else if (isNumericArray(value)) {
      arrays++;
      if (dimensions === -1) dimensions = value.length;
      else if (dimensions !== value.length) mixedLengths = true;
    } else others++;
  }
  const isVectorName = VECTOR_COLUMN_NAMES.includes(name);
  if (arrays > 0 && arrays === present && !mixedLengths && dimensions > 0) return vectorType(dimensions);
  if (isVectorName && (arrays > 0 || present === 0)) {
    const why = present === 0 ? 'it has no values' : mixedLengths ? 'its arrays differ in length' : 'it mixes arrays with other values';
    throw new TypeError(`column "${name}": cannot make a vector column, ${why}`);
  }
  if (present === 0) return new Utf8();
  if (numbers + bigints === present) return fractional > 0 ? new Float64() : new Int64();
  if (booleans === present) return new Bool();
  if (strings === present) return new Utf8();
  if (dates === present) return new Timestamp(TimeUnit.MILLISECOND, 'UTC');
  void others;
  return new Utf8();
}

/** An explicit type by name; `vector` needs the dimension, taken from the data when not given. */
export function typeFromName(name: ColumnTypeName, column: string, values: ArrayLike<unknown>): DataType {
  switch (name) {
    case 'int64': return new Int64();
    case 'int32': return new Int32();
    case 'float64': return new Float64();
    case 'float32': return new Float32();
    case 'utf8': case 'string': case 'json': return new Utf8();
    case 'bool': return new Bool();
    case 'timestamp': return new Timestamp(TimeUnit.MILLISECOND, 'UTC');
    case 'vector': {
      const type = inferType('vector', values);
      if (!(type instanceof FixedSizeList)) throw new TypeError(`column "${column}": --type vector needs arrays of numbers`);
      return type;
    }
    default: throw new TypeError(`column "${column}": unknown type "${String(name)}"`);
  }
}

export const COLUMN_TYPE_NAMES: readonly ColumnTypeName[] = ['int64', 'int32', 'float64', 'float32', 'utf8', 'string', 'bool', 'timestamp', 'vector', 'json'];

/** A nullable field of the inferred (or named) type. */
export function inferField(name: string, values: ArrayLike<unknown>, typeName?: ColumnTypeName | DataType): Field {
  const type = typeName === undefined ? inferType(name, values)
    : typeName instanceof DataType ? typeName : typeFromName(typeName, name, values);
  return new Field(name, type, true);
}
