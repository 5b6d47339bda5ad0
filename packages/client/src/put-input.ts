/**
 * Everything `put` accepts, brought to one shape: an optional schema known up front, a stream
 * of record batches, and the row count when it is known.
 */
import { FixedSizeList, RecordBatch, Schema, Table, Vector, type Field } from 'apache-arrow';
import { compareTypes } from 'apache-arrow/visitor/typecomparator';
import { flatVectorColumn } from './column-builder.ts';
import { VECTOR_COLUMN_NAMES, vectorType } from './infer-type.ts';
import {
  METRIC_METADATA_KEY, batchFromColumns, batchFromRows, type BuildOptions, type ColumnValues, type Metric,
} from './record-batch-builder.ts';

/**
 * Columns with the two conventional ones spelled out: `ids` becomes the `id` column and
 * `vectors` the vector column (`vector`, or the dataset's `embedding`). `vectors` is one array
 * per row, or one flat Float32Array of rows x dimensions. Every other key is a column.
 */
export interface VectorColumns {
  ids?: ColumnValues;
  vectors?: Float32Array | readonly ArrayLike<number>[];
  [column: string]: ColumnValues | readonly ArrayLike<number>[] | undefined;
}

/**
 * A row: a plain object whose keys are column names (any object type, interfaces included;
 * its own enumerable properties are the columns).
 */
export type Row = object;

/** What `put` takes. Streams (sync or async iterables of batches or tables) are sent as they are read. */
export type PutData =
  | Table
  | RecordBatch
  | readonly Row[]
  | VectorColumns
  | Iterable<RecordBatch | Table>
  | AsyncIterable<RecordBatch | Table>;

export interface NormalizedInput {
  schema?: Schema;
  batches: Iterable<RecordBatch> | AsyncIterable<RecordBatch>;
  rowsTotal?: number;
}

/** True for inputs made of plain values, which are typed against the dataset's schema when it exists. */
export function isPlainInput(data: PutData): data is readonly Row[] | VectorColumns {
  if (data instanceof Table || data instanceof RecordBatch) return false;
  if (Array.isArray(data)) return !(data[0] instanceof RecordBatch || data[0] instanceof Table);
  return !(Symbol.iterator in data) && !(Symbol.asyncIterator in data);
}

function withMetric(schema: Schema, metric: Metric | undefined): Schema {
  if (metric === undefined || schema.metadata.get(METRIC_METADATA_KEY) === metric) return schema;
  const metadata = new Map(schema.metadata);
  metadata.set(METRIC_METADATA_KEY, metric);
  return new Schema(schema.fields, metadata, schema.dictionaries);
}

function rebatch(batch: RecordBatch, schema: Schema): RecordBatch {
  return batch.schema === schema ? batch : new RecordBatch(schema, batch.data);
}

async function* flattenStream(items: Iterable<RecordBatch | Table> | AsyncIterable<RecordBatch | Table>, metric?: Metric): AsyncGenerator<RecordBatch> {
  for await (const item of items) {
    const batches = item instanceof Table ? item.batches : [item];
    for (const batch of batches) {
      if (!(batch instanceof RecordBatch)) throw new TypeError('a put stream must yield RecordBatch or Table objects');
      yield rebatch(batch, withMetric(batch.schema, metric));
    }
  }
}

/** `vectors` as a column of the vector type: a flat array without a per-row copy. */
function vectorColumn(vectors: NonNullable<VectorColumns['vectors']>, rows: number | undefined, dimensions: number | undefined,
  schemaField: Field | undefined): ColumnValues {
  if (!(vectors instanceof Float32Array)) return vectors;
  const dims = dimensions ?? (schemaField?.type instanceof FixedSizeList ? schemaField.type.listSize : undefined)
    ?? (rows !== undefined && rows > 0 ? vectors.length / rows : undefined);
  if (dims === undefined || !Number.isInteger(dims) || dims <= 0) {
    throw new TypeError(`a flat vectors array of ${vectors.length} numbers needs the dimension: pass ids or the dim option`);
  }
  const type = schemaField?.type instanceof FixedSizeList ? schemaField.type : vectorType(dims);
  return new Vector([flatVectorColumn(type, vectors)]);
}

export function columnsFromVectorColumns(data: VectorColumns, schema: Schema | undefined, dimensions: number | undefined): Record<string, ColumnValues> {
  const { ids, vectors, ...rest } = data;
  const columns: Record<string, ColumnValues> = {};
  if (ids !== undefined) columns.id = ids;
  if (vectors !== undefined) {
    const name = schema?.fields.find((field) => VECTOR_COLUMN_NAMES.includes(field.name))?.name ?? 'vector';
    const field = schema?.fields.find((candidate) => candidate.name === name);
    columns[name] = vectorColumn(vectors, ids?.length, dimensions, field);
  }
  for (const [name, values] of Object.entries(rest)) if (values !== undefined) columns[name] = values as ColumnValues;
  return columns;
}

export interface InputOptions extends BuildOptions {
  /** Dimension of a flat `vectors` array when there are no `ids` to divide by. */
  dim?: number;
}

export function normalizeInput(data: PutData, options: InputOptions): NormalizedInput {
  if (data instanceof Table) {
    const schema = withMetric(data.schema, options.metric);
    return { schema, batches: data.batches.map((batch) => rebatch(batch, schema)), rowsTotal: data.numRows };
  }
  if (data instanceof RecordBatch) {
    const schema = withMetric(data.schema, options.metric);
    return { schema, batches: [rebatch(data, schema)], rowsTotal: data.numRows };
  }
  if (Array.isArray(data) && isPlainInput(data)) {
    if (data.length === 0 && !options.schema) throw new TypeError('nothing to put: an empty array of rows has no schema');
    const batch = batchFromRows(data as readonly Row[], options);
    return { schema: batch.schema, batches: [batch], rowsTotal: batch.numRows };
  }
  if (isPlainInput(data)) {
    const columns = columnsFromVectorColumns(data as VectorColumns, options.schema, options.dim);
    if (Object.keys(columns).length === 0) throw new TypeError('nothing to put: no columns');
    const batch = batchFromColumns(columns, options);
    return { schema: batch.schema, batches: [batch], rowsTotal: batch.numRows };
  }
  return { batches: flattenStream(data as Iterable<RecordBatch | Table> | AsyncIterable<RecordBatch | Table>, options.metric) };
}

/** Same columns (names, types, nullability) and metadata: no new schema message needed. */
export function sameSchema(a: Schema, b: Schema): boolean {
  if (a === b) return true;
  if (a.fields.length !== b.fields.length || a.metadata.size !== b.metadata.size) return false;
  for (const [key, value] of a.metadata) if (b.metadata.get(key) !== value) return false;
  return a.fields.every((field, i) => {
    const other = b.fields[i];
    return field.name === other.name && field.nullable === other.nullable && compareTypes(field.type, other.type);
  });
}
