/**
 * The vector index of every dataset that has a vector column, kept in step with the store
 * through its hooks: appended rows are handed to the dataset's index (which builds its graph
 * in the background), deleted rows leave it, a dropped dataset's index is closed. Snapshots
 * save each index beside the dataset; loading a snapshot reopens it, so only the rows after
 * the snapshot are indexed again.
 */
import type { RecordBatch, Schema } from 'apache-arrow';
import type { Logger } from '../log/logger.ts';
import { DatasetIndex, type DatasetHits, type DatasetIndexOptions, type IndexState } from '../index/dataset-index.ts';
import type { HnswStorage } from '../index/hnsw-storage.ts';
import { vectorsFromBatch } from '../index/vector-conversion.ts';
import type { Dataset } from './dataset.ts';
import type { Store } from './store.ts';
import { schemaRoles, type SchemaRoles } from './schema-rules.ts';

export interface VectorIndexSettings {
  m: number;
  efConstruction: number;
  efSearch: number;
  /** Precision of new graphs' vector copies (LONGBOW_HNSW_STORAGE; default HNSW_STORAGE_DEFAULT). */
  storage?: HnswStorage;
  logger?: Logger;
  /** Overrides DatasetIndex options (LONGBOW_VECTOR_INDEX=exact: no graphs; tests: a lower exact-only threshold). */
  indexOptions?: Partial<DatasetIndexOptions>;
}

export interface IndexStatus {
  state: IndexState;
  rows: number;
  indexedRows: number;
  memoryBytes: number;
}

export class VectorIndexes {
  private readonly indexes = new Map<Dataset, DatasetIndex>();
  /** Indexes loaded from a snapshot, waiting for their dataset's rows (by dataset name). */
  private readonly preloaded = new Map<string, DatasetIndex>();

  constructor(private readonly store: Store, private readonly settings: VectorIndexSettings) {
    store.onRowsAppended = (dataset, firstOrdinal, batch) => this.appended(dataset, firstOrdinal, batch);
    store.onRowsDeleted = (dataset, ordinals) => {
      const index = this.indexes.get(dataset);
      if (index) for (const ordinal of ordinals) index.remove(ordinal);
    };
    store.onDatasetDropped = (dataset) => {
      const index = this.indexes.get(dataset) ?? this.preloaded.get(dataset.name);
      this.indexes.delete(dataset);
      this.preloaded.delete(dataset.name);
      void index?.close();
    };
    store.extraMemoryBytes = () => this.memoryBytes;
  }

  private options(roles: SchemaRoles): DatasetIndexOptions | undefined {
    const vector = roles.vector;
    if (!vector) return undefined;
    return {
      dimensions: vector.dimensions, metric: roles.metric, m: this.settings.m,
      efConstruction: this.settings.efConstruction, efSearch: this.settings.efSearch, logger: this.settings.logger,
      storage: this.settings.storage, ...this.settings.indexOptions,
    };
  }

  private appended(dataset: Dataset, firstOrdinal: number, batch: RecordBatch): void {
    const vector = dataset.roles.vector;
    if (!vector) return;
    let index = this.indexes.get(dataset);
    if (!index) {
      index = this.preloaded.get(dataset.name) ?? new DatasetIndex(this.options(dataset.roles)!);
      this.preloaded.delete(dataset.name);
      this.indexes.set(dataset, index);
    }
    if (index.rows < firstOrdinal) {
      // Rows from before the vector column was added (schema evolution): they have no vector,
      // and a row of NaN never matches.
      index.append(index.rows, new Float32Array((firstOrdinal - index.rows) * vector.dimensions).fill(Number.NaN), true);
    }
    const { vectors, copied } = vectorsFromBatch(batch, vector.index);
    index.append(firstOrdinal, vectors, copied);
  }

  /** The index of `dataset`; undefined when it has no vector column. */
  indexOf(dataset: Dataset): DatasetIndex | undefined {
    let index = this.indexes.get(dataset);
    if (!index && dataset.roles.vector) {
      // A dataset created by a schema-only DoPut: an empty index.
      index = new DatasetIndex(this.options(dataset.roles)!);
      this.indexes.set(dataset, index);
    }
    return index;
  }

  status(dataset: Dataset): IndexStatus | undefined {
    const index = this.indexOf(dataset);
    if (!index) return undefined;
    return { state: index.state, rows: index.rows, indexedRows: index.indexedRows, memoryBytes: index.memoryBytes };
  }

  /** Bytes held by every index. */
  get memoryBytes(): number {
    let bytes = 0;
    for (const index of this.indexes.values()) bytes += index.memoryBytes;
    return bytes;
  }

  /**
   * Reopens the index saved in `directory` for dataset `name` (whose snapshot holds `rows`
   * rows), before the snapshot's rows are restored into the store.
   */
  async preload(name: string, schema: Schema, directory: string, rows: number): Promise<void> {
    const options = this.options(schemaRoles(schema));
    if (!options || options.flatOnlyBytesMax === Infinity) return; // no vector column, or no graphs (LONGBOW_VECTOR_INDEX=exact)
    const index = await DatasetIndex.load(directory, { ...options, rows });
    await index.ready();
    this.preloaded.set(name, index);
  }

  /** Saves the index of `dataset` into `directory` (which exists); false when it has none. */
  async save(dataset: Dataset, directory: string): Promise<boolean> {
    const index = this.indexes.get(dataset);
    if (!index) return false;
    try {
      await index.save(directory);
      return true;
    } catch (error) {
      // The dataset was dropped meanwhile, or the index worker failed: the snapshot goes on
      // without this index (a restart rebuilds it), never fails for it.
      this.settings.logger?.warn({ err: error, dataset: dataset.name }, 'Vector index not saved with the snapshot; it will be rebuilt after a restart');
      return false;
    }
  }

  search(dataset: Dataset, queries: Float32Array, k: number, options: Parameters<DatasetIndex['searchMany']>[2]): Promise<DatasetHits[]> {
    const index = this.indexOf(dataset);
    if (!index) throw new Error(`dataset ${dataset.name} has no vector index`);
    return index.searchMany(queries, k, options);
  }

  async close(): Promise<void> {
    const all = [...this.indexes.values(), ...this.preloaded.values()];
    this.indexes.clear();
    this.preloaded.clear();
    await Promise.all(all.map((index) => index.close()));
  }
}
