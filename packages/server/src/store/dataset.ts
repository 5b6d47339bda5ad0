/**
 * A dataset: a schema and the record batches appended to it, in order. Batches are immutable
 * once stored; appends and drops swap arrays, so a running scan keeps a consistent view.
 */
import { RecordBatch, Schema, Struct, makeBuilder, makeData, type Data, type Field } from 'apache-arrow';
import { batchBytes } from './memory.ts';
import { compareSchemas, schemaRoles, type SchemaRoles } from './schema-rules.ts';
import { longbowError } from '../errors.ts';

export interface DatasetStats {
  name: string;
  rows: number;
  bytes: number;
  batches: number;
  columns: number;
}

export class Dataset {
  readonly name: string;
  private currentSchema: Schema;
  private currentRoles: SchemaRoles;
  private storedBatches: readonly RecordBatch[] = [];
  private rowCount = 0;
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
  get rows(): number { return this.rowCount; }
  get bytes(): number { return this.byteCount; }
  get batches(): readonly RecordBatch[] { return this.storedBatches; }

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

  /** Appends a batch already admitted by admitSchema; returns the bytes it holds. */
  append(batch: RecordBatch): number {
    this.adoptSchema(batch.schema);
    const bytes = batchBytes(batch);
    this.storedBatches = [...this.storedBatches, batch];
    this.rowCount += batch.numRows;
    this.byteCount += bytes;
    this.lastAccessMs = Date.now();
    return bytes;
  }

  stats(): DatasetStats {
    return {
      name: this.name, rows: this.rowCount, bytes: this.byteCount,
      batches: this.storedBatches.length, columns: this.currentSchema.fields.length,
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
