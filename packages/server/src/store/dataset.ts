/**
 * A dataset: a schema, the record batches appended to it, in order, and its deleted rows.
 * Batches are immutable once stored; appends, deletions and drops swap whole views
 * (DatasetRows), so a running scan keeps a consistent view.
 *
 * Each row has an ordinal: its 0-based position among all rows ever appended (batch order,
 * then row order). Deleting a row marks its ordinal (a tombstone) and never moves other rows.
 * With an `id` column, a dataset keeps an id index: appending a row whose id a live row
 * already has deletes that older row (upsert; within one batch the last occurrence wins).
 */
import { RecordBatch, Schema, Struct, makeBuilder, makeData, type Data, type Field } from 'apache-arrow';
import { DatasetRows } from './dataset-rows.ts';
import { IdIndex, idKeyReader, normalizeId, type IdKey, type IdKeyReader, type IdValue } from './id-index.ts';
import { batchBytes } from './memory.ts';
import { compareSchemas, schemaRoles, type SchemaRoles } from './schema-rules.ts';
import { longbowError } from '../errors.ts';

export interface DatasetStats {
  name: string;
  /** Live rows (not deleted). */
  rows: number;
  /** Rows deleted (by delete or upsert); they still take memory. */
  deletedRows: number;
  bytes: number;
  batches: number;
  columns: number;
}

/** What appending a batch did. */
export interface AppendedRows {
  /** Bytes the batch holds. */
  bytes: number;
  /** Ordinal of the batch's first row. */
  firstOrdinal: number;
  /** Rows deleted because a row of the batch took over their id (ascending). */
  replaced: number[];
}

export class Dataset {
  readonly name: string;
  private currentSchema: Schema;
  private currentRoles: SchemaRoles;
  private view: DatasetRows = DatasetRows.empty;
  private idIndex: IdIndex | undefined;
  private byteCount = 0;
  /** Milliseconds since the epoch of the last read or write (for TTL). */
  lastAccessMs = Date.now();

  constructor(name: string, schema: Schema) {
    this.name = name;
    this.currentRoles = schemaRoles(schema);
    this.currentSchema = schema;
  }

  get schema(): Schema { return this.currentSchema; }
  get roles(): SchemaRoles { return this.currentRoles; }
  /** Live rows: appended and not deleted. */
  get rows(): number { return this.view.liveRows; }
  /** Rows ever appended, deleted ones included: the ordinal the next row gets. */
  get totalRows(): number { return this.view.totalRows; }
  get deletedRows(): number { return this.view.deletedRows; }
  /** Bytes of every stored batch, deleted rows included (rows are never removed physically). */
  get bytes(): number { return this.byteCount; }
  get batches(): readonly RecordBatch[] { return this.view.batches; }
  /** The current immutable view: batches, their first ordinals and tombstones. */
  get rowsView(): DatasetRows { return this.view; }

  /**
   * Checks that a batch of `schema` may be appended; returns the schema the dataset would have
   * afterwards (the incoming one when it adds nullable columns). Throws SCHEMA_MISMATCH.
   */
  admitSchema(schema: Schema): Schema {
    const change = compareSchemas(this.currentSchema, schema);
    if (change === 'extends') {
      // Keep the dataset's metadata (the metric) when a writer omits it.
      const metadata = new Map([...this.currentSchema.metadata, ...schema.metadata]);
      const extended = new Schema(schema.fields, metadata);
      schemaRoles(extended); // the added columns must not break a rule either
      return extended;
    }
    return this.currentSchema;
  }

  /** Takes a schema admitted by admitSchema (it may add nullable columns at the end). */
  adoptSchema(schema: Schema): void {
    const next = this.admitSchema(schema);
    if (next === this.currentSchema) return;
    this.currentRoles = schemaRoles(next);
    this.currentSchema = next;
  }

  /**
   * Appends a batch already admitted by admitSchema. With an id column, older rows (and
   * earlier rows of this batch) with an id of this batch are deleted: see `replaced`.
   */
  append(batch: RecordBatch): AppendedRows {
    this.adoptSchema(batch.schema);
    const bytes = batchBytes(batch);
    const firstOrdinal = this.view.totalRows;
    let next = this.view.withBatch(batch);
    let replaced: number[] = [];
    const idColumn = this.currentRoles.id;
    if (idColumn !== undefined) {
      this.idIndex ??= new IdIndex(idColumn.type);
      const candidates = this.idIndex.addRows(batch.data.children[idColumn.index], batch.numRows, firstOrdinal);
      if (candidates.length > 0) ({ rows: next, deleted: replaced } = next.withDeleted(candidates));
    }
    this.view = next;
    this.byteCount += bytes;
    this.lastAccessMs = Date.now();
    return { bytes, firstOrdinal, replaced };
  }

  /** Deletes rows by ordinal; returns those that were live (ascending). */
  deleteOrdinals(ordinals: Iterable<number>): number[] {
    const { rows, deleted } = this.view.withDeleted(ordinals);
    if (deleted.length === 0) return deleted;
    const idColumn = this.currentRoles.id;
    const idIndex = this.idIndex;
    if (idIndex !== undefined && idColumn !== undefined) {
      const readers = new Map<number, IdKeyReader | undefined>();
      for (const ordinal of deleted) {
        const { batchIndex, batch, row } = rows.locate(ordinal);
        if (!readers.has(batchIndex)) {
          const data = batch.data.children[idColumn.index]; // absent in batches older than the id column
          readers.set(batchIndex, data === undefined ? undefined : idKeyReader(idIndex.type, data));
        }
        const key = readers.get(batchIndex)?.(row);
        if (key !== undefined) idIndex.removeIfAt(key, ordinal);
      }
    }
    this.view = rows;
    this.lastAccessMs = Date.now();
    return deleted;
  }

  /**
   * Deletes the live rows holding `keys` (normalized ids). Returns the deleted ordinals
   * (ascending) and how many of the distinct keys had no live row.
   */
  deleteIds(keys: readonly IdKey[]): { deleted: number[]; notFound: number } {
    const distinct = new Set(keys);
    const ordinals: number[] = [];
    for (const key of distinct) {
      const ordinal = this.idIndex?.get(key);
      if (ordinal !== undefined) ordinals.push(ordinal);
    }
    return { deleted: this.deleteOrdinals(ordinals), notFound: distinct.size - ordinals.length };
  }

  /**
   * Ordinal of the live row with this id, or undefined when no live row has it. The id is
   * normalized for the id column's type (numbers, bigints or digit strings for integer ids).
   * Throws ID_COLUMN_MISSING without an id column, INVALID_ID for an id of the wrong type.
   */
  ordinalOfId(id: IdValue): number | undefined {
    const idColumn = this.currentRoles.id;
    if (idColumn === undefined) throw longbowError('ID_COLUMN_MISSING', `dataset "${this.name}" has no "id" column`);
    return this.idIndex?.get(normalizeId(idColumn.type, id));
  }

  /** Whether row `ordinal` (0 <= ordinal < totalRows) is deleted. */
  isDeleted(ordinal: number): boolean {
    return this.view.isDeleted(ordinal);
  }

  /** The batch and row of `ordinal` (0 <= ordinal < totalRows), deleted or not. */
  locate(ordinal: number): { batch: RecordBatch; row: number } {
    const { batch, row } = this.view.locate(ordinal);
    return { batch, row };
  }

  stats(): DatasetStats {
    return {
      name: this.name, rows: this.rows, deletedRows: this.deletedRows, bytes: this.byteCount,
      batches: this.view.batches.length, columns: this.currentSchema.fields.length,
    };
  }
}

/** `batch` with the dataset's current schema: columns added later are filled with nulls. */
export function withSchema(batch: RecordBatch, schema: Schema): RecordBatch {
  if (batch.schema === schema) return batch;
  const have = batch.data.children;
  if (have.length === schema.fields.length) return new RecordBatch(schema, batch.data);
  const children: Data[] = schema.fields.map((field, index) => have[index] ?? nullColumn(field, batch.numRows));
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: batch.numRows, nullCount: 0, children }));
}

function nullColumn(field: Field, length: number): Data {
  if (!field.nullable) throw longbowError('INTERNAL');
  const builder = makeBuilder({ type: field.type, nullValues: [null] });
  for (let i = 0; i < length; i++) builder.append(null);
  return builder.finish().flush();
}
