/**
 * Typed values from CSV text. A new dataset's column types come from the first batch of
 * records: integers -> int64, other numbers -> float64, true/false -> bool, JSON arrays of
 * numbers -> FixedSizeList<float32>[dim], anything else -> utf8. After that (and for an
 * existing dataset) cells are read as the schema's types. An empty cell is null, except in a
 * string column, where it is the empty string.
 */
import { DataType, type Schema } from 'apache-arrow';
import type { ColumnTypeName } from '@longbow/client';

type CellKind = 'int' | 'float' | 'bool' | 'array' | 'string' | 'text';

const INTEGER = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(Infinity|NaN)$/;
const BOOLEAN = /^(true|false)$/i;

function numericArray(text: string): number[] | undefined {
  if (!text.startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) && value.every((item) => typeof item === 'number') ? value as number[] : undefined;
  } catch {
    return undefined;
  }
}

function kindOfCells(cells: readonly string[]): CellKind {
  const present = cells.filter((cell) => cell !== '');
  if (present.length === 0) return 'string';
  if (present.every((cell) => INTEGER.test(cell))) return 'int';
  if (present.every((cell) => NUMBER.test(cell))) return 'float';
  if (present.every((cell) => BOOLEAN.test(cell))) return 'bool';
  if (present.every((cell) => numericArray(cell) !== undefined)) return 'array';
  return 'string';
}

function kindOfTypeName(name: ColumnTypeName): CellKind {
  switch (name) {
    case 'int64': case 'int32': return 'int';
    case 'float64': case 'float32': return 'float';
    case 'bool': return 'bool';
    case 'vector': return 'array';
    case 'timestamp': return 'text';
    default: return 'string';
  }
}

function kindOfType(type: DataType): CellKind {
  if (DataType.isInt(type)) return 'int';
  if (DataType.isFloat(type)) return 'float';
  if (DataType.isBool(type)) return 'bool';
  if (DataType.isFixedSizeList(type) || DataType.isList(type)) return 'array';
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type)) return 'string';
  return 'text';
}

function cellValue(cell: string, kind: CellKind, column: string, row: number): unknown {
  if (cell === '') return kind === 'string' ? '' : null;
  switch (kind) {
    case 'int': {
      if (!INTEGER.test(cell)) return cell; // the column builder reports it with the column name
      const big = BigInt(cell);
      return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
    }
    case 'float': return NUMBER.test(cell) ? Number(cell) : cell;
    case 'bool': {
      if (!BOOLEAN.test(cell)) throw new TypeError(`row ${row}: column "${column}": ${JSON.stringify(cell)} is not true or false`);
      return cell.toLowerCase() === 'true';
    }
    case 'array': {
      const array = numericArray(cell);
      if (array === undefined) throw new TypeError(`row ${row}: column "${column}": expected a JSON array of numbers`);
      return array;
    }
    default: return cell;
  }
}

export interface CsvColumns {
  names: readonly string[];
  kinds: readonly CellKind[];
}

/** Column kinds from the dataset's schema, or inferred from the first records (with overrides). */
export function csvColumns(header: readonly string[], records: readonly string[][], schema: Schema | undefined,
  types: Readonly<Record<string, ColumnTypeName>>): CsvColumns {
  const kinds = header.map((name, column) => {
    const field = schema?.fields.find((candidate) => candidate.name === name);
    if (field) return kindOfType(field.type);
    if (types[name] !== undefined) return kindOfTypeName(types[name]);
    return kindOfCells(records.map((record) => record[column] ?? ''));
  });
  return { names: header, kinds };
}

/** Records as objects of typed values. `firstRow` numbers the first record in errors (data rows from 1). */
export function csvRows(columns: CsvColumns, records: readonly string[][], firstRow: number): Record<string, unknown>[] {
  return records.map((record, index) => {
    const row = firstRow + index;
    if (record.length !== columns.names.length) {
      throw new TypeError(`row ${row}: ${record.length} fields, the header has ${columns.names.length}`);
    }
    const values: Record<string, unknown> = {};
    columns.names.forEach((name, column) => {
      values[name] = cellValue(record[column], columns.kinds[column], name, row);
    });
    return values;
  });
}
