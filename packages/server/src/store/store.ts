/**
 * The store: named datasets, memory accounting and the memory limit.
 *
 * A write goes: validate (schema rules) -> admit (memory limit, reserved) -> persist (the
 * write-ahead log, when one is attached) -> apply in memory. A batch is all-or-nothing: a
 * failure at any step leaves the store as it was.
 */
import type { RecordBatch, Schema } from 'apache-arrow';
import { Dataset, type DatasetStats } from './dataset.ts';
import { batchBytes } from './memory.ts';
import { longbowError } from '../errors.ts';
import { DATASET_NAME_BYTES_MAX } from '../limits.ts';

export interface AppendResult {
  dataset: string;
  rows: number;
  totalRows: number;
  seq: number;
}

export interface StoreStats {
  currentMemoryBytes: number;
  maxMemoryBytes: number;
  datasets: DatasetStats[];
}

/** Checks a dataset name; throws INVALID_DATASET_NAME. */
export function checkDatasetName(name: string): string {
  if (name.length === 0) throw longbowError('INVALID_DATASET_NAME', 'the name is empty');
  if (Buffer.byteLength(name, 'utf8') > DATASET_NAME_BYTES_MAX) {
    throw longbowError('INVALID_DATASET_NAME', `longer than ${DATASET_NAME_BYTES_MAX} bytes`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw longbowError('INVALID_DATASET_NAME', 'control characters are not allowed');
  return name;
}

export class Store {
  private readonly datasets = new Map<string, Dataset>();
  private usedBytes = 0;
  private reservedBytes = 0;
  private sequence = 0;
  maxMemoryBytes: number;

  constructor(options: { maxMemoryBytes: number }) {
    this.maxMemoryBytes = options.maxMemoryBytes;
  }

  get currentMemoryBytes(): number { return this.usedBytes; }
  get lastSequence(): number { return this.sequence; }

  get(name: string): Dataset {
    const dataset = this.datasets.get(name);
    if (!dataset) throw longbowError('DATASET_NOT_FOUND', name);
    dataset.lastAccessMs = Date.now();
    return dataset;
  }

  has(name: string): boolean {
    return this.datasets.has(name);
  }

  list(): Dataset[] {
    return [...this.datasets.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Validates `schema` for dataset `name` (new or existing) without changing anything.
   * Throws INVALID_SCHEMA / SCHEMA_MISMATCH / INVALID_DATASET_NAME.
   */
  checkSchema(name: string, schema: Schema): void {
    checkDatasetName(name);
    const existing = this.datasets.get(name);
    if (existing) existing.admitSchema(schema);
    else new Dataset(name, schema);
  }

  /**
   * Creates the dataset if it does not exist, or extends its schema with new nullable columns
   * (a DoPut that sent a schema and no batches).
   */
  ensure(name: string, schema: Schema): Dataset {
    checkDatasetName(name);
    let dataset = this.datasets.get(name);
    if (!dataset) {
      dataset = new Dataset(name, schema);
      this.datasets.set(name, dataset);
    } else {
      dataset.adoptSchema(schema);
    }
    return dataset;
  }

  /**
   * Appends one batch: all-or-nothing. A new dataset comes into being with its first stored
   * batch, so a refused batch leaves nothing behind. Throws SCHEMA_MISMATCH, INVALID_SCHEMA
   * or MEMORY_LIMIT.
   */
  async append(name: string, batch: RecordBatch): Promise<AppendResult> {
    this.checkSchema(name, batch.schema);
    const bytes = batchBytes(batch);
    this.reserve(bytes);
    try {
      // The write-ahead log hook goes here: persist before applying.
      this.sequence += 1;
      const seq = this.sequence;
      // Another stream may have created, changed or dropped the dataset meanwhile: check again.
      const target = this.datasets.get(name) ?? this.ensure(name, batch.schema);
      target.append(batch);
      this.usedBytes += bytes;
      return { dataset: name, rows: batch.numRows, totalRows: target.rows, seq };
    } finally {
      this.reservedBytes -= bytes;
    }
  }

  drop(name: string): void {
    const dataset = this.datasets.get(name);
    if (!dataset) throw longbowError('DATASET_NOT_FOUND', name);
    this.datasets.delete(name);
    this.usedBytes -= dataset.bytes;
  }

  stats(): StoreStats {
    return {
      currentMemoryBytes: this.usedBytes,
      maxMemoryBytes: this.maxMemoryBytes,
      datasets: this.list().map((dataset) => dataset.stats()),
    };
  }

  private reserve(bytes: number): void {
    const limit = this.maxMemoryBytes;
    const inUse = this.usedBytes + this.reservedBytes;
    if (limit > 0 && inUse + bytes > limit) {
      throw longbowError('MEMORY_LIMIT', `the batch needs ${bytes} bytes, ${inUse} of ${limit} are in use`);
    }
    this.reservedBytes += bytes;
  }
}
