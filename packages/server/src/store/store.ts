/**
 * The store: named datasets, memory accounting and the memory limit.
 *
 * A write goes: validate (schema rules) -> admit (memory limit, reserved) -> persist (the
 * write-ahead log, when one is attached) -> apply in memory. A batch is all-or-nothing: a
 * failure at any step leaves the store as it was. Deletions go the same way (validate ->
 * persist -> apply); deleted rows stay in memory, marked (see dataset.ts).
 */
import type { RecordBatch, Schema } from 'apache-arrow';
import { Dataset, type DatasetStats } from './dataset.ts';
import { idsBatch } from './ids-batch.ts';
import { normalizeId, type IdKey } from './id-index.ts';
import { batchBytes } from './memory.ts';
import { longbowError } from '../errors.ts';
import { DATASET_NAME_BYTES_MAX } from '../limits.ts';

export interface AppendResult {
  dataset: string;
  rows: number;
  totalRows: number;
  seq: number;
}

export interface DeleteResult {
  dataset: string;
  /** Rows deleted by this call. */
  deleted: number;
  /** Distinct ids given that matched no live row. */
  notFound: number;
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

/**
 * Where writes are made durable before they are applied (the write-ahead log). `append`
 * assigns the sequence synchronously, in call order, and resolves once the record is durable;
 * records are applied in memory in that same order.
 */
export interface Journal {
  /** Turns a batch into what appendPut keeps; absent for a journal that keeps no payloads. */
  readonly serialize?: BatchSerializer;
  appendPut(dataset: string, payload: Uint8Array | Uint8Array[]): Promise<number>;
  /**
   * Optional: starts a put record written while its body arrives (the bytes are the batch's IPC
   * stream: `prefix`, then `body`); null when not possible now. See service/put-staging.ts.
   */
  stagePut?(dataset: string, prefix: readonly Uint8Array[], body: Uint8Array): StagedPut | null;
  /** Makes a staged put count, like appendPut: takes its sequence now, resolves once durable. */
  commitStagedPut?(staged: StagedPut): Promise<number>;
  appendDrop(dataset: string): Promise<number>;
  /** `payload`: the ids to delete, as the serializer made them (Arrow IPC stream of an `id` column). */
  appendDelete(dataset: string, payload: Uint8Array | Uint8Array[]): Promise<number>;
}

/** A put record being written while its batch arrives (Journal.stagePut). */
export interface StagedPut {
  /** The body memory it was staged with. */
  readonly body: Uint8Array;
  /** The first `bytes` body bytes are final. */
  landed(bytes: number): void;
  /** The whole body landed and it was not abandoned: it can be committed. */
  readonly complete: boolean;
  /** It will not be committed. */
  abandon(): void;
}

/** Turns a batch into the bytes the journal keeps (Arrow IPC stream: schema, dictionaries, batch). */
export type BatchSerializer = (batch: RecordBatch) => Uint8Array | Uint8Array[];

/** No durability: sequences only (tests of the store alone). */
class MemoryJournal implements Journal {
  private sequence = 0;
  async appendPut(): Promise<number> { return ++this.sequence; }
  async appendDrop(): Promise<number> { return ++this.sequence; }
  async appendDelete(): Promise<number> { return ++this.sequence; }
}

export class Store {
  private readonly datasets = new Map<string, Dataset>();
  private usedBytes = 0;
  private reservedBytes = 0;
  private sequence = 0;
  maxMemoryBytes: number;
  private journal: Journal = new MemoryJournal();
  private serialize: BatchSerializer = () => new Uint8Array(0);

  /**
   * Observers of row changes (the vector index). Called synchronously right after the change
   * is applied in memory: for live writes, for WAL replay and for snapshot loading alike, in
   * ordinal order per dataset. `firstOrdinal` is the ordinal of the batch's row 0; `ordinals`
   * are ascending and were live until this call. An upsert calls onRowsAppended, then
   * onRowsDeleted with the rows it replaced (possibly rows of the same batch).
   */
  onRowsAppended?: (dataset: Dataset, firstOrdinal: number, batch: RecordBatch) => void;
  onRowsDeleted?: (dataset: Dataset, ordinals: readonly number[]) => void;
  /** A dataset left the store (drop_dataset, TTL eviction, replay of a drop). */
  onDatasetDropped?: (dataset: Dataset) => void;

  constructor(options: { maxMemoryBytes: number }) {
    this.maxMemoryBytes = options.maxMemoryBytes;
  }

  /** Makes writes durable from now on (after recovery has replayed the journal into the store). */
  attachJournal(journal: Journal): void {
    this.journal = journal;
    this.serialize = journal.serialize ?? (() => new Uint8Array(0));
  }

  /** Bytes held outside the datasets' batches and counted against the limit (the vector indexes). */
  extraMemoryBytes: () => number = () => 0;

  /** Bytes in use: stored batches plus extraMemoryBytes (the vector indexes). */
  get currentMemoryBytes(): number { return this.usedBytes + this.extraMemoryBytes(); }
  /** Sequence of the last applied write. */
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

  /** Whether the journal can write a put while its batch arrives (stagePut). */
  get canStagePuts(): boolean { return this.journal.stagePut !== undefined; }

  /** Starts a put record written while its batch arrives, when the journal can (else null). */
  stagePut(dataset: string, prefix: readonly Uint8Array[], body: Uint8Array): StagedPut | null {
    return this.journal.stagePut?.(dataset, prefix, body) ?? null;
  }

  /**
   * Appends one batch: all-or-nothing. Validation, the memory reservation and the journal
   * sequence happen synchronously, in call order, so the order in which writes were checked is
   * the order in which they are logged and applied. A dataset created for a batch that then
   * fails is removed again. `staged`: the batch's record, already written while it arrived
   * (stagePut); it is committed instead of logging the batch (the caller abandons it if the
   * batch is refused). Throws SCHEMA_MISMATCH, INVALID_SCHEMA, MEMORY_LIMIT, WAL_UNAVAILABLE.
   */
  async append(name: string, batch: RecordBatch, staged?: StagedPut): Promise<AppendResult> {
    this.checkSchema(name, batch.schema);
    const bytes = batchBytes(batch);
    this.reserve(bytes);
    const created = !this.datasets.has(name);
    const dataset = this.ensure(name, batch.schema);
    let seq: number;
    try {
      seq = await (staged && this.journal.commitStagedPut ? this.journal.commitStagedPut(staged) : this.journal.appendPut(name, this.serialize(batch)));
    } catch (error) {
      this.reservedBytes -= bytes;
      if (created && dataset.rows === 0 && dataset.batches.length === 0 && this.datasets.get(name) === dataset) {
        this.datasets.delete(name);
      }
      throw error;
    }
    this.reservedBytes -= bytes;
    // A drop logged after this batch was checked removed the dataset: the batch re-creates it,
    // exactly as replaying the log will.
    const target = this.datasets.get(name) ?? this.ensure(name, batch.schema);
    this.applyBatch(target, batch, seq);
    return { dataset: name, rows: batch.numRows, totalRows: target.rows, seq };
  }

  /** Drops a dataset durably. Throws DATASET_NOT_FOUND, WAL_UNAVAILABLE. */
  async drop(name: string): Promise<void> {
    if (!this.datasets.has(name)) throw longbowError('DATASET_NOT_FOUND', name);
    const seq = await this.journal.appendDrop(name);
    this.applyDrop(name, seq);
  }

  /**
   * Deletes the live rows with the given ids, durably. `ids` are normalized for the dataset's
   * id column (integers as numbers, bigints or digit strings; strings for utf8). Ids with no
   * live row are counted, not refused. Throws DATASET_NOT_FOUND, ID_COLUMN_MISSING, INVALID_ID,
   * WAL_UNAVAILABLE.
   */
  async delete(name: string, ids: readonly unknown[]): Promise<DeleteResult> {
    const dataset = this.datasets.get(name);
    if (!dataset) throw longbowError('DATASET_NOT_FOUND', name);
    const idColumn = dataset.roles.id;
    if (!idColumn) throw longbowError('ID_COLUMN_MISSING', `dataset "${name}" has no "id" column, so its rows cannot be deleted by id`);
    const keys = ids.map((id, index) => normalizeId(idColumn.type, id, `ids[${index}]`));
    const seq = await this.journal.appendDelete(name, this.serialize(idsBatch(idColumn.type, keys)));
    return { dataset: name, ...this.applyDelete(name, keys, seq), seq };
  }

  /** Replays one journal record at startup (no limit check: the write was acknowledged). */
  replayPut(name: string, batches: RecordBatch[], seq: number): void {
    for (const batch of batches) {
      const dataset = this.datasets.get(name) ?? this.ensure(name, batch.schema);
      this.applyBatch(dataset, batch, seq);
    }
    if (batches.length === 0) this.sequence = Math.max(this.sequence, seq);
  }

  /** After loading a snapshot: every write up to `seq` is in the store. */
  restoreSequence(seq: number): void {
    this.sequence = Math.max(this.sequence, seq);
  }

  replayDrop(name: string, seq: number): void {
    this.applyDrop(name, seq);
  }

  /** Replays a delete record: the ids (keys) it holds, against the dataset as it is now. */
  replayDelete(name: string, keys: readonly IdKey[], seq: number): void {
    this.applyDelete(name, keys, seq);
  }

  /**
   * Loads a dataset from a snapshot at sequence `seq`: its schema, every stored batch (deleted
   * rows included, in ordinal order) and the bitmap of deleted ordinals (undefined: none).
   */
  restoreDataset(name: string, schema: Schema, batches: readonly RecordBatch[], deleted: Uint8Array | undefined, seq: number): Dataset {
    const dataset = this.ensure(name, schema);
    for (const batch of batches) this.applyBatch(dataset, batch, seq);
    if (deleted !== undefined) {
      const ordinals: number[] = [];
      for (let ordinal = 0; ordinal < dataset.totalRows; ordinal++) {
        if (deleted[ordinal >> 3] & (1 << (ordinal & 7))) ordinals.push(ordinal);
      }
      this.applyDeletedOrdinals(dataset, ordinals);
    }
    this.sequence = Math.max(this.sequence, seq);
    return dataset;
  }

  stats(): StoreStats {
    return {
      currentMemoryBytes: this.currentMemoryBytes,
      maxMemoryBytes: this.maxMemoryBytes,
      datasets: this.list().map((dataset) => dataset.stats()),
    };
  }

  private applyBatch(dataset: Dataset, batch: RecordBatch, seq: number): void {
    const appended = dataset.append(batch);
    this.usedBytes += appended.bytes;
    this.sequence = Math.max(this.sequence, seq);
    this.onRowsAppended?.(dataset, appended.firstOrdinal, batch);
    if (appended.replaced.length > 0) this.onRowsDeleted?.(dataset, appended.replaced);
  }

  private applyDrop(name: string, seq: number): void {
    const dataset = this.datasets.get(name);
    if (dataset) {
      this.datasets.delete(name);
      this.usedBytes -= dataset.bytes;
    }
    this.sequence = Math.max(this.sequence, seq);
    if (dataset) this.onDatasetDropped?.(dataset);
  }

  /**
   * Applies a logged deletion to the dataset of that name as it is now (a drop or a re-creation
   * logged in between applies first, live and on replay alike). Returns the rows deleted and the
   * distinct ids without a live row.
   */
  private applyDelete(name: string, keys: readonly IdKey[], seq: number): { deleted: number; notFound: number } {
    this.sequence = Math.max(this.sequence, seq);
    const dataset = this.datasets.get(name);
    if (!dataset) return { deleted: 0, notFound: new Set(keys).size };
    const { deleted, notFound } = dataset.deleteIds(keys);
    if (deleted.length > 0) this.onRowsDeleted?.(dataset, deleted);
    return { deleted: deleted.length, notFound };
  }

  private applyDeletedOrdinals(dataset: Dataset, ordinals: readonly number[]): void {
    const deleted = dataset.deleteOrdinals(ordinals);
    if (deleted.length > 0) this.onRowsDeleted?.(dataset, deleted);
  }

  private reserve(bytes: number): void {
    const limit = this.maxMemoryBytes;
    const inUse = this.currentMemoryBytes + this.reservedBytes;
    if (limit > 0 && inUse + bytes > limit) {
      throw longbowError('MEMORY_LIMIT', `the batch needs ${bytes} bytes, ${inUse} of ${limit} are in use`);
    }
    this.reservedBytes += bytes;
  }
}
