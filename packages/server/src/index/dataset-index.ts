/**
 * The vector index of one dataset, as the store uses it. Rows are appended synchronously and
 * cheaply (the vectors are referenced, not copied); an HNSW graph is built from them in a
 * worker thread in the background, so the event loop is never held for long. A search sees
 * every appended row: graph candidates for the rows the graph covers, re-scored exactly, and
 * an exact scan of the rest. Small datasets stay exact-only (no worker at all).
 *
 * Deleted rows: `remove(ordinal)` takes the row out of the graph and out of every search; a
 * search's `exclude` predicate does the same per query (the store's tombstones).
 */
import { availableParallelism } from 'node:os';
import { buildSlots as sharedBuildSlots, type BuildSlots } from './build-slots.ts';
import { DistanceKernel } from './distance-kernel.ts';
import { rescoreCount, searchDataset, type DatasetSearchOptions, type SearchContext } from './dataset-search.ts';
import type { HnswOptions } from './hnsw-index.ts';
import { HNSW_STORAGE_DEFAULT, int8ScaleFromRows, int8ScaleSampleRows, largestMagnitude, takesScale, type HnswStorage } from './hnsw-storage.ts';
import { readIndexMeta, writeIndexMeta, GRAPH_FILE_NAME, type IndexMeta } from './index-files.ts';
import { IndexWorker } from './index-worker.ts';
import type { GraphFile, GraphState } from './index-worker-protocol.ts';
import { distanceFromKey, metricSpec, scoreFromKey, type Metric } from './metric.ts';
import { OrdinalSet } from './ordinal-set.ts';
import { VectorChunks } from './vector-chunks.ts';
import type { SearchHits } from './vector-index.ts';
import type { Logger } from '../log/logger.ts';
import {
  INDEX_BUILD_THREADS_MAX, INDEX_FEED_BYTES_MAX, INDEX_FEED_MESSAGES_IN_FLIGHT_MAX, INDEX_FILTER_EXACT_ROWS_MAX,
  INDEX_FILTER_EXACT_FRACTION, INDEX_FILTER_EXACT_FRACTION_DOT_PRODUCT, INDEX_FLAT_ONLY_VECTOR_BYTES_MAX,
} from '../limits.ts';

export type { DatasetSearchOptions } from './dataset-search.ts';

/** What a saved index fixes about its graph (index.json). */
interface GraphOverrides {
  m?: number;
  storage?: HnswStorage;
  scale?: number;
}

export interface DatasetIndexOptions {
  dimensions: number;
  metric: Metric;
  /** HNSW graph degree (LONGBOW_HNSW_M). */
  m: number;
  /** LONGBOW_HNSW_EF_CONSTRUCTION. */
  efConstruction: number;
  /** Default candidate list per search (LONGBOW_HNSW_EF_SEARCH); `ef` overrides it per search. */
  efSearch: number;
  /** Precision of the graph's copy of the vectors (default HNSW_STORAGE_DEFAULT). */
  storage?: HnswStorage;
  /** Vector bytes up to which the dataset stays exact-only (default INDEX_FLAT_ONLY_VECTOR_BYTES_MAX). */
  flatOnlyBytesMax?: number;
  /** Candidate sets up to this many rows are searched exactly (default INDEX_FILTER_EXACT_ROWS_MAX). */
  filterExactRowsMax?: number;
  /** Native threads the worker inserts with (default: all cores but one, at least 1). */
  insertThreads?: number;
  /** Native threads a batch of queries is searched with (default: every core). */
  searchThreads?: number;
  /** Turns at graph building, shared with other datasets (default: the process-wide ones). */
  buildSlots?: BuildSlots;
  logger?: Logger;
}

/** Results, best first; `scores` are higher-is-closer (metric.ts). */
export interface DatasetHits extends SearchHits {
  scores: number[];
}

export type IndexState = 'flat' | 'starting' | 'indexing' | 'ready' | 'failed';

export interface SaveResult {
  /** Rows the saved graph covers (0 when the dataset is exact-only). */
  rows: number;
  /** Bytes written. */
  bytes: number;
}

export class DatasetIndex {
  readonly dimensions: number;
  readonly metric: Metric;
  private readonly options: DatasetIndexOptions;
  private readonly chunks: VectorChunks;
  private readonly kernel: DistanceKernel;
  private readonly removed = new OrdinalSet();
  private readonly context: SearchContext;
  private worker: IndexWorker | undefined;
  /** The precision a new graph gets (a graph loaded from a saved index keeps its own). */
  private readonly storage: HnswStorage;
  /** The options the worker's graph was made with (its storage and i8 scale are saved with it). */
  private graphOptions: HnswOptions | undefined;
  /** The largest finite |value| of each row sampled for an i8 graph's scale (sampleScale). */
  private readonly scaleSample: number[] = [];
  /** Bytes of vector arrays this index owns (converted from other element types). */
  private ownedBytes = 0;
  /** Rows sent to the worker, and rows its graph covers. */
  private sentRows = 0;
  private graphRows = 0;
  private graphBytes = 0;
  private feedsInFlight = 0;
  /** Removed ordinals the worker has been sent rows for, not told about yet. */
  private removals: number[] = [];
  private workerReady = false;
  private closed = false;
  /** This index's turn at building (build-slots.ts): none, asked for, or held. */
  private slot: 'none' | 'waiting' | 'held' = 'none';
  private withdrawSlotRequest: () => void = () => undefined;
  /** Feed messages sent during the current turn. */
  private fedThisTurn = 0;

  constructor(options: DatasetIndexOptions) {
    this.options = options;
    this.dimensions = options.dimensions;
    this.metric = options.metric;
    this.storage = options.storage ?? HNSW_STORAGE_DEFAULT;
    this.chunks = new VectorChunks(options.dimensions);
    this.kernel = new DistanceKernel(metricSpec(options.metric).kernel, options.dimensions);
    this.context = {
      dimensions: options.dimensions, kernel: this.kernel, chunks: this.chunks, removed: this.removed,
      efSearch: options.efSearch, batchThreads: this.searchThreads(),
      filterExactRowsMax: options.filterExactRowsMax ?? INDEX_FILTER_EXACT_ROWS_MAX,
      filterExactFraction: options.metric === 'dot_product' ? INDEX_FILTER_EXACT_FRACTION_DOT_PRODUCT : INDEX_FILTER_EXACT_FRACTION,
      graph: () => (this.workerReady && this.graphRows > 0 && !this.worker?.failed ? this.worker : undefined),
      rescore: (k) => rescoreCount(this.graphOptions?.storage ?? this.storage, options.metric, k),
    };
  }

  /**
   * An index saved by `save` in `directory`, for a dataset whose snapshot holds `rows` rows
   * (graph rows past that are dropped: they come back through the log). Append the snapshot's
   * rows afterwards, from ordinal 0: the rows the graph covers are not indexed again. A
   * missing, damaged or mismatched file is logged and the graph is rebuilt in the background.
   */
  static async load(directory: string, options: DatasetIndexOptions & { rows: number }): Promise<DatasetIndex> {
    const index = new DatasetIndex(options);
    let meta: IndexMeta | undefined;
    try {
      meta = await readIndexMeta(directory);
    } catch (error) {
      options.logger?.warn({ err: error, directory }, 'Vector index file unreadable; rebuilding the index');
    }
    if (meta && (meta.dimensions !== options.dimensions || meta.metric !== options.metric)) {
      options.logger?.warn({ directory, saved: { dimensions: meta.dimensions, metric: meta.metric } }, 'Vector index saved for another schema; rebuilding the index');
      meta = undefined;
    }
    if (meta?.graph) {
      const file: GraphFile = {
        path: `${directory}/${GRAPH_FILE_NAME}`, rows: meta.rows, keepRows: Math.min(meta.rows, options.rows),
        bytes: meta.graph.bytes, crc32c: meta.graph.crc32c,
      };
      index.startWorker({ m: meta.m, storage: meta.storage, scale: meta.scale }, file);
    }
    return index;
  }

  /** Resolves once the worker, if any, has opened or loaded its graph (searches use it from then on). */
  async ready(): Promise<void> {
    await this.worker?.opened.catch(() => undefined);
  }

  /** Rows appended (ordinals 0 .. rows-1). */
  get rows(): number { return this.chunks.rows; }

  /** Rows the graph covers; the rest are searched exactly. Equals `rows` for exact-only datasets. */
  get indexedRows(): number {
    if (!this.worker) return this.chunks.rows;
    return this.workerReady && !this.worker.failed ? this.graphRows : 0;
  }

  /** Bytes held by the index: the graph (estimated), converted vectors and bookkeeping. */
  get memoryBytes(): number { return this.graphBytes + this.ownedBytes + this.removed.bytes; }

  get state(): IndexState {
    if (!this.worker) return 'flat';
    if (this.worker.failed) return 'failed';
    if (!this.workerReady) return 'starting';
    return this.graphRows < this.chunks.rows ? 'indexing' : 'ready';
  }

  /**
   * Appends rows `firstOrdinal ..` (must equal `rows`): `vectors` is rows x dimensions and is
   * referenced, not copied, so it must not change afterwards. Pass `owned` when the array was
   * made for the index (converted vectors) so its bytes count as the index's memory.
   */
  append(firstOrdinal: number, vectors: Float32Array, owned = false): void {
    if (this.closed) throw new Error('the index is closed');
    this.chunks.append(firstOrdinal, vectors);
    if (owned) this.ownedBytes += vectors.byteLength;
    const flatOnlyBytesMax = this.options.flatOnlyBytesMax ?? INDEX_FLAT_ONLY_VECTOR_BYTES_MAX;
    if (!this.worker) {
      this.sampleScale(firstOrdinal, vectors);
      if (this.chunks.rows * this.dimensions * 4 > flatOnlyBytesMax && this.scaleKnown()) this.startWorker();
    }
    this.feed();
  }

  /** The row never matches again (and leaves the graph). */
  remove(ordinal: number): void {
    if (!Number.isSafeInteger(ordinal) || ordinal < 0 || ordinal >= this.chunks.rows) return;
    if (!this.removed.add(ordinal) || !this.worker || ordinal >= this.sentRows) return; // unsent rows go out as NaN
    // One message per burst of deletes, not per row.
    if (this.removals.length === 0) queueMicrotask(() => this.flushRemovals());
    this.removals.push(ordinal);
  }

  private flushRemovals(): void {
    const ordinals = this.removals;
    this.removals = [];
    if (ordinals.length > 0 && !this.closed) this.worker?.remove(ordinals);
  }

  /** The k nearest rows to `query`. */
  async search(query: Float32Array, k: number, options: DatasetSearchOptions = {}): Promise<DatasetHits> {
    return (await this.searchMany(query, k, options))[0];
  }

  /** `search` for each of `queries` (count x dimensions, row-major), in one pass. */
  async searchMany(queries: Float32Array, k: number, options: DatasetSearchOptions = {}): Promise<DatasetHits[]> {
    if (!(Number.isSafeInteger(k) && k >= 1)) throw new RangeError(`k must be a positive integer, got ${k}`);
    if (queries.length === 0 || queries.length % this.dimensions !== 0) {
      throw new RangeError(`queries hold ${queries.length} values, not a positive multiple of ${this.dimensions} dimensions`);
    }
    let tops;
    try {
      tops = await searchDataset(this.context, queries, k, options);
    } catch (error) {
      if (!this.worker?.failed || this.closed) throw error;
      tops = await searchDataset(this.context, queries, k, { ...options, exact: true }); // the worker died mid-search
    }
    return tops.map((top) => {
      const { keys, ordinals } = top.sorted();
      return {
        ordinals,
        distances: keys.map((key) => distanceFromKey(this.metric, key)),
        scores: keys.map((key) => scoreFromKey(this.metric, key)),
      };
    });
  }

  /**
   * Writes the index into `directory` (which must exist): the graph as the worker has it now
   * and `index.json` (fsync'd). Rows not covered are indexed again after a load.
   */
  async save(directory: string): Promise<SaveResult> {
    const graph = this.worker && !this.worker.failed ? this.worker : undefined;
    const made = graph ? this.graphOptions : undefined;
    const storage = made?.storage ?? this.storage;
    const base = {
      dimensions: this.dimensions, metric: this.metric, m: made?.m ?? this.options.m, storage,
      ...(made?.scale === undefined ? {} : { scale: made.scale }),
    };
    if (!graph) {
      const bytes = await writeIndexMeta(directory, { ...base, rows: 0, graph: null });
      return { rows: 0, bytes };
    }
    await graph.opened;
    const saved = await graph.save(`${directory}/${GRAPH_FILE_NAME}`);
    const metaBytes = await writeIndexMeta(directory, { ...base, rows: saved.rows, graph: { bytes: saved.bytes, crc32c: saved.crc32c } });
    return { rows: saved.rows, bytes: saved.bytes + metaBytes };
  }

  /** Stops the worker; the index answers nothing afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    this.giveUpSlot();
    await this.worker?.close();
  }

  private threads(): number {
    return this.options.insertThreads ?? Math.max(1, Math.min(INDEX_BUILD_THREADS_MAX, availableParallelism() - 1));
  }

  /**
   * Every core for a batch of queries: it is throughput work a client waits for, and short
   * (1,000 queries take tens of ms), unlike a build, which would hold the event loop's core
   * for minutes.
   */
  private searchThreads(): number {
    return this.options.searchThreads ?? Math.max(1, Math.min(INDEX_BUILD_THREADS_MAX, availableParallelism()));
  }

  /** Whether a new graph needs a scale taken from the data (i8, euclidean or dot_product). */
  private get scaled(): boolean {
    return takesScale(this.storage, this.metric);
  }

  /**
   * Takes appended rows into the i8 scale's sample until it holds INDEX_INT8_SCALE_SAMPLE_BYTES
   * (at most INDEX_INT8_SCALE_SAMPLE_ROWS) of rows with a finite value other than zero (rows of
   * NaN, a dataset's padding for rows without a vector, tell nothing about the range and do not
   * count). Runs as rows arrive, so the event loop never scans more than one append's rows.
   */
  private sampleScale(firstOrdinal: number, vectors: Float32Array): void {
    const dimensions = this.dimensions;
    const sampleRowsMax = int8ScaleSampleRows(dimensions);
    if (!this.scaled || this.scaleSample.length >= sampleRowsMax) return;
    for (let row = 0; row * dimensions < vectors.length && this.scaleSample.length < sampleRowsMax; row++) {
      if (this.removed.has(firstOrdinal + row)) continue;
      const largest = largestMagnitude(vectors.subarray(row * dimensions, (row + 1) * dimensions));
      if (largest > 0) this.scaleSample.push(largest);
    }
  }

  /** False while an i8 graph would have no scale: the dataset has no finite value but zero yet. */
  private scaleKnown(): boolean {
    return !this.scaled || this.scaleSample.length > 0;
  }

  /**
   * The graph's options. An i8 graph of a euclidean or dot_product dataset gets its scale from
   * the saved index, or else from the sample (sampleScale: the first rows with values, up to
   * 8 MiB of them; a graph starts once a dataset is past INDEX_FLAT_ONLY_VECTOR_BYTES_MAX, so
   * that is thousands of rows) by int8ScaleFromRows.
   */
  private hnswOptions(overrides: GraphOverrides = {}): HnswOptions {
    const { dimensions, metric, m, efConstruction, efSearch } = this.options;
    const storage = overrides.storage ?? this.storage;
    let scale: number | undefined;
    if (takesScale(storage, metric)) scale = overrides.scale ?? int8ScaleFromRows(this.scaleSample);
    return {
      dimensions, metric, m: overrides.m ?? m, efConstruction, efSearch, storage, ...(scale === undefined ? {} : { scale }),
      insertThreads: this.threads(), searchThreads: this.searchThreads(),
    };
  }

  private startWorker(overrides: GraphOverrides = {}, file?: GraphFile): void {
    const logger = this.options.logger;
    this.sentRows = file?.keepRows ?? 0;
    this.graphRows = this.sentRows;
    this.graphOptions = this.hnswOptions(overrides);
    this.scaleSample.length = 0; // taken (or not needed): sampled only before a graph starts
    this.worker = new IndexWorker(this.graphOptions, file, {
      onState: (state) => this.onGraphState(state),
      onFailure: (error) => {
        logger?.error({ err: error }, 'Vector index worker failed; searches of this dataset are exact from now on');
        this.giveUpSlot();
      },
    });
    this.worker.opened.then((opened) => {
      if (opened.loadError !== undefined) {
        logger?.warn({ reason: opened.loadError }, 'Vector index file not loaded; rebuilding the index');
        this.sentRows = 0;
        this.graphRows = 0;
      }
      this.workerReady = true;
      this.feed();
    }, () => undefined);
    logger?.debug({ rows: this.chunks.rows, file: file?.path }, 'Vector index worker started');
  }

  private onGraphState(state: GraphState): void {
    this.graphBytes = state.memoryBytes;
    if (!this.workerReady) return; // the 'opened' state: handled once `opened` resolves
    this.graphRows = state.rows;
    this.feedsInFlight = Math.max(0, this.feedsInFlight - 1);
    this.feed();
  }

  /**
   * Sends the next rows to the worker, keeping a bounded number of messages in flight, while
   * this index holds a build slot: asks for one when rows are waiting, yields it once another
   * dataset waits (after at least one message this turn) or nothing is left to send.
   */
  private feed(): void {
    const worker = this.worker;
    if (!worker || !this.workerReady || worker.failed || this.closed) return;
    if (this.sentRows >= this.chunks.rows) {
      this.endTurnIfDrained();
      return;
    }
    if (this.slot === 'none') {
      this.slot = 'waiting';
      this.withdrawSlotRequest = this.slots().request(() => {
        if (this.closed || this.worker?.failed) { // granted in the same moment it was given up
          this.slots().release();
          return;
        }
        this.slot = 'held';
        this.fedThisTurn = 0;
        this.feed();
      });
      return;
    }
    if (this.slot === 'waiting') return;
    if (this.fedThisTurn > 0 && this.slots().contended) {
      this.endTurnIfDrained();
      return;
    }
    const rowBytes = this.dimensions * 4;
    const rowsPerMessage = Math.max(1, Math.floor(INDEX_FEED_BYTES_MAX / rowBytes));
    while (this.feedsInFlight < INDEX_FEED_MESSAGES_IN_FLIGHT_MAX && this.sentRows < this.chunks.rows) {
      const from = this.sentRows;
      const to = Math.min(this.chunks.rows, from + rowsPerMessage);
      const vectors = this.chunks.copyRows(from, to);
      if (this.removed.size > 0) {
        for (let ordinal = from; ordinal < to; ordinal++) {
          if (this.removed.has(ordinal)) vectors.fill(NaN, (ordinal - from) * this.dimensions, (ordinal - from + 1) * this.dimensions);
        }
      }
      worker.add(from, vectors);
      this.sentRows = to;
      this.feedsInFlight++;
      this.fedThisTurn++;
    }
  }

  /** Once the worker has finished what this turn sent, gives the slot back (and queues again if rows wait). */
  private endTurnIfDrained(): void {
    if (this.slot !== 'held' || this.feedsInFlight > 0) return;
    this.slot = 'none';
    this.slots().release();
    if (this.sentRows < this.chunks.rows) this.feed();
  }

  /** Leaves the turn order for good (closed index, failed worker). */
  private giveUpSlot(): void {
    if (this.slot === 'held') this.slots().release();
    else if (this.slot === 'waiting') this.withdrawSlotRequest();
    this.slot = 'none';
  }

  private slots(): BuildSlots {
    return this.options.buildSlots ?? sharedBuildSlots;
  }
}
