/**
 * Record batches from plain objects or from columns of plain values, typed by inference
 * (infer-type.ts), by explicit names, or by a given schema (the dataset's own, so that a put of
 * objects into an existing dataset matches it exactly).
 */
import {
  DataType, Field, RecordBatch, Schema, Struct, Vector, makeData, type Data,
} from 'apache-arrow';
import { compareTypes } from 'apache-arrow/visitor/typecomparator';
import { buildColumn } from './column-builder.ts';
import { inferField, type ColumnTypeName } from './infer-type.ts';

/** Distance metrics of a dataset (schema metadata `longbow.metric`). */
export type Metric = 'euclidean' | 'cosine' | 'dot_product';

export const METRIC_METADATA_KEY = 'longbow.metric';

export interface BuildOptions {
  /**
   * Build to this schema (typically the dataset's). Its columns missing from the data are null;
   * data columns it lacks are added at the end as nullable columns (schema evolution).
   */
  schema?: Schema;
  /** Types for some columns by name, instead of inference: a type name or an Arrow DataType. */
  types?: Readonly<Record<string, ColumnTypeName | DataType>>;
  /** `longbow.metric` of a new dataset. */
  metric?: Metric;
}

/** A column of plain values or an Arrow Vector (one chunk). */
export type ColumnValues = ArrayLike<unknown> | Vector;

function columnData(name: string, field: Field, values: ColumnValues): Data {
  if (values instanceof Vector) {
    if (values.data.length !== 1) throw new TypeError(`column "${name}": pass a single-chunk Vector (or a Table)`);
    const data = values.data[0];
    if (!compareTypes(data.type, field.type)) {
      throw new TypeError(`column "${name}" is ${String(data.type)}, the schema has ${String(field.type)}`);
    }
    return data;
  }
  return buildColumn(name, field.type, values);
}

function fieldFor(name: string, values: ColumnValues, options: BuildOptions): Field {
  if (values instanceof Vector) return new Field(name, values.type, true);
  return inferField(name, values, options.types?.[name]);
}

/** One record batch from named columns of equal length. */
export function batchFromColumns(columns: Readonly<Record<string, ColumnValues>>, options: BuildOptions = {}): RecordBatch {
  const names = Object.keys(columns);
  const lengths = new Set(names.map((name) => columns[name].length));
  if (lengths.size > 1) {
    throw new TypeError(`columns differ in length: ${names.map((name) => `${name}=${columns[name].length}`).join(', ')}`);
  }
  const rows = lengths.size === 0 ? 0 : [...lengths][0];
  const fields: Field[] = [];
  const children: Data[] = [];
  const taken = new Set<string>();
  for (const field of options.schema?.fields ?? []) {
    taken.add(field.name);
    const values = columns[field.name];
    if (values === undefined && !field.nullable) {
      throw new TypeError(`column "${field.name}" is required: the dataset's schema has it as non-nullable`);
    }
    fields.push(field);
    children.push(columnData(field.name, field, values ?? new Array<null>(rows).fill(null)));
  }
  for (const name of names) {
    if (taken.has(name)) continue;
    const field = fieldFor(name, columns[name], options);
    fields.push(field);
    children.push(columnData(name, field, columns[name]));
  }
  const metadata = new Map(options.schema?.metadata ?? []);
  if (options.metric !== undefined) metadata.set(METRIC_METADATA_KEY, options.metric);
  const schema = new Schema(fields, metadata);
  return new RecordBatch(schema, makeData({ type: new Struct(fields), length: rows, nullCount: 0, children }));
}

/** One record batch from plain objects; columns in the order their keys first appear. */
export function batchFromRows(rows: readonly object[], options: BuildOptions = {}): RecordBatch {
  const names = new Set<string>(options.schema?.fields.map((field) => field.name) ?? []);
  for (const row of rows) {
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new TypeError('rows must be plain objects');
    for (const key of Object.keys(row)) names.add(key);
  }
  const columns: Record<string, unknown[]> = {};
  for (const name of names) {
    const values = new Array<unknown>(rows.length);
    for (let i = 0; i < rows.length; i++) values[i] = (rows[i] as Record<string, unknown>)[name];
    columns[name] = values;
  }
  if (options.schema) {
    for (const field of options.schema.fields) {
      if (!field.nullable && columns[field.name].some((value) => value === undefined || value === null)) {
        throw new TypeError(`column "${field.name}" is required: the dataset's schema has it as non-nullable`);
      }
    }
  }
  return batchFromColumns(columns, options);
}
