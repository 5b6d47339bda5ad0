/**
 * Approximate index: an HNSW graph from usearch (native, SIMD kernels). The graph keeps its own
 * copy of each vector, at `storage` precision (hnsw-storage.ts: i8 and bf16 shrink the copy with
 * no loss of recall once results are re-scored exactly, as DatasetIndex does; f32 keeps it
 * exact). For i8, vectors and queries are quantized here (a global scale, or one per vector:
 * see HnswOptions.scale) and handed to usearch as int8, and distances scaled back.
 *
 * Per-query ef: usearch's JavaScript binding fixes the search expansion at construction, but a
 * search explores max(expansion, wanted) candidates. The index is therefore built with
 * expansion 1 and asked for max(k, ef) results, of which the best k are kept: exactly a
 * search with candidate list ef, chosen per query.
 *
 * Synchronous and CPU-heavy: DatasetIndex runs it in a worker thread; the bench and tests use
 * it directly.
 */
import { createNativeIndex, type NativeIndex } from './usearch-native.ts';
import { metricSpec, type Metric } from './metric.ts';
import type { IndexSearchOptions, SearchHits, VectorIndex } from './vector-index.ts';
import { INDEX_OVERSAMPLING_GROWTH } from '../limits.ts';
import { quantizeInt8, takesScale, type HnswStorage } from './hnsw-storage.ts';


export interface HnswOptions {
  dimensions: number;
  metric: Metric;
  /** Graph degree (usearch connectivity; the base layer has 2 x m links). */
  m: number;
  /** Candidate list size while inserting. */
  efConstruction: number;
  /** Default candidate list size per search. */
  efSearch: number;
  /** Precision of the graph's copy of the vectors (default f32). */
  storage?: HnswStorage;
  /**
   * i8 only, and required for euclidean and dot_product: their vectors (and euclidean queries)
   * are multiplied by this and rounded to integers in [-127, 127]; DatasetIndex takes it from
   * the data (int8ScaleFromRows). Cosine vectors, and dot_product and cosine queries, are each
   * scaled on their own (quantizeInt8).
   */
  scale?: number;
  /** Native threads per insert call (default 1). */
  insertThreads?: number;
  /** Native threads a batch search may use (default: insertThreads). See add(). */
  searchThreads?: number;
}

const STORAGE_BYTES = { f32: 4, bf16: 2, f16: 2, i8: 1 } as const;

/** Raw candidates of a batch search: `ordinals[q * wanted + i]` for i < counts[q], best first. */
export interface HnswCandidates {
  wanted: number;
  ordinals: Float64Array;
  distances: Float32Array;
  counts: Uint32Array;
}

/** Whether every value of row `row` is finite (NaN or infinite vectors are never indexed). */
function finiteRow(vectors: Float32Array, row: number, dimensions: number): boolean {
  const end = (row + 1) * dimensions;
  for (let i = row * dimensions; i < end; i++) {
    const value = vectors[i];
    if (value - value !== 0) return false;
  }
  return true;
}

/** Throws unless `value` is an integer >= `least` (no allocation: it runs on every search). */
function atLeast(name: string, value: number, least: number): void {
  if (!Number.isSafeInteger(value) || value < least) throw new RangeError(`${name} must be an integer >= ${least}, got ${value}`);
}

export class HnswIndex implements VectorIndex {
  readonly dimensions: number;
  readonly metric: Metric;
  readonly options: Required<HnswOptions>;
  private readonly index: NativeIndex;
  private rowsSeen = 0;
  private skippedRows = 0;
  /** i8 storage: the quantization scale (null: per-vector, cosine); undefined for float storage. */
  private readonly int8: number | null | undefined;

  constructor(options: HnswOptions) {
    const insertThreads = options.insertThreads ?? 1;
    this.options = { storage: 'f32', ...options, scale: options.scale ?? 0, insertThreads, searchThreads: options.searchThreads ?? insertThreads };
    this.dimensions = options.dimensions;
    this.metric = options.metric;
    if (takesScale(this.options.storage, options.metric)) {
      const { scale } = this.options;
      if (!(Number.isFinite(scale) && scale > 0)) throw new RangeError(`i8 storage needs a positive finite scale for ${options.metric}, got ${options.scale}`);
      this.int8 = scale;
    } else if (this.options.storage === 'i8') {
      this.int8 = null; // cosine: each vector scaled by its own
    }
    this.index = createNativeIndex({
      dimensions: options.dimensions,
      metric: metricSpec(options.metric).usearch,
      scalar: this.options.storage,
      connectivity: options.m,
      expansionAdd: options.efConstruction,
      expansionSearch: 1, // see the file comment: ef is chosen per search
    });
  }

  /** Reads a graph written by `save`; `rows` is the number of ordinals it covers. */
  static load(path: string, options: HnswOptions, rows: number): HnswIndex {
    const index = new HnswIndex(options);
    index.index.load(path);
    if (index.index.dimensions() !== options.dimensions) {
      throw new Error(`index file ${path} has ${index.index.dimensions()} dimensions, expected ${options.dimensions}`);
    }
    index.rowsSeen = rows;
    return index;
  }

  /** Ordinals added so far (0 .. size-1), whether indexed, skipped or removed. */
  get size(): number { return this.rowsSeen; }

  /** Vectors in the graph (removed ones excluded). */
  get count(): number { return this.index.size(); }

  /** Rows not indexed because a value was NaN or infinite. */
  get skipped(): number { return this.skippedRows; }

  /**
   * Estimated bytes: the vector copy, the links (2m on the base layer, m per upper layer on
   * 1/(m-1) of the nodes on average) and ~160 bytes per node of bookkeeping (key, level, lookup
   * tables, allocator slack); within ~5% of the resident memory measured at 100k x 128.
   */
  get memoryBytes(): number {
    const { m, storage } = this.options;
    const perNode = this.dimensions * STORAGE_BYTES[storage] + (2 * m + 2) * 4 + (m * 4) / Math.max(1, m - 1) + 160;
    return Math.round(this.index.size() * perNode);
  }

  add(firstOrdinal: number, vectors: Float32Array): void {
    const dimensions = this.dimensions;
    const rows = vectors.length / dimensions;
    if (!Number.isInteger(rows)) throw new RangeError(`vectors length ${vectors.length} is not a multiple of ${dimensions}`);
    if (firstOrdinal !== this.rowsSeen) throw new RangeError(`rows must be added in order: expected ordinal ${this.rowsSeen}, got ${firstOrdinal}`);
    let keys = new BigUint64Array(rows);
    let kept = 0;
    let data = vectors;
    for (let row = 0; row < rows; row++) {
      if (finiteRow(vectors, row, dimensions)) {
        if (data !== vectors) data.set(vectors.subarray(row * dimensions, (row + 1) * dimensions), kept * dimensions);
        keys[kept++] = BigInt(firstOrdinal + row);
      } else if (data === vectors) {
        data = vectors.slice(); // first bad row: compact the rest into a copy
      }
    }
    this.skippedRows += rows - kept;
    this.rowsSeen += rows;
    if (kept === 0) return;
    if (kept < rows) {
      keys = keys.subarray(0, kept);
      data = data.subarray(0, kept * dimensions);
    }
    this.index.add(keys, this.int8 === undefined ? data : quantizeInt8(data, this.dimensions, this.int8), this.addThreads(kept));
  }

  /**
   * Threads for an add of `rows`. usearch keeps one search context per thread, and sizes them
   * only when an add grows its capacity, to that add's thread count: a search with more
   * threads than contexts fails ("Reserve capacity ahead of searches!"). So an add that grows
   * the capacity runs with enough threads for the widest batch search too (one chunk, briefly
   * on more cores); the others with insertThreads. (A loaded graph has a context per core.)
   */
  private addThreads(rows: number): number {
    const { insertThreads, searchThreads } = this.options;
    return this.index.size() + rows >= this.index.capacity() ? Math.max(insertThreads, searchThreads) : insertThreads;
  }

  remove(ordinal: number): void {
    if (ordinal >= 0 && ordinal < this.rowsSeen) this.index.remove(BigUint64Array.of(BigInt(ordinal)));
  }

  /** Forgets ordinals `rows` and up (they may be added again): used when a file covers more. */
  truncate(rows: number): void {
    const piece = 65_536;
    for (let from = rows; from < this.rowsSeen; from += piece) {
      const to = Math.min(this.rowsSeen, from + piece);
      this.index.remove(BigUint64Array.from({ length: to - from }, (_, i) => BigInt(from + i)));
    }
    this.rowsSeen = Math.min(this.rowsSeen, rows);
  }

  /**
   * The best `wanted` candidates per query (count x dimensions, row-major), exploring
   * max(wanted, ef) candidates: the primitive the worker serves.
   */
  candidates(queries: Float32Array, wanted: number, ef: number, threads = 1): HnswCandidates {
    const count = queries.length / this.dimensions;
    // The addon checks none of these (see usearch-native.ts).
    if (!Number.isInteger(count)) throw new RangeError(`queries hold ${queries.length} values, not a multiple of ${this.dimensions}`);
    atLeast('wanted', wanted, 1);
    atLeast('ef', ef, 1);
    atLeast('threads', threads, 0);
    const asked = Math.max(1, Math.min(Math.max(wanted, ef), Math.max(1, this.index.size())));
    const ordinals = new Float64Array(count * wanted);
    const distances = new Float32Array(count * wanted);
    const counts = new Uint32Array(count);
    if (this.index.size() === 0 || count === 0) return { wanted, ordinals, distances, counts };
    // i8 queries: euclidean ones on the data's scale (distances must compare); dot_product ones
    // each on its own (a query's scale multiplies all its scores alike, so its order is kept
    // whatever its magnitude), cosine ones too (scale-free).
    const dot = this.metric === 'dot_product';
    const queryScales = dot && this.int8 !== undefined ? new Float64Array(count) : undefined;
    const asStored = this.int8 === undefined ? queries : quantizeInt8(queries, this.dimensions, dot ? null : this.int8, queryScales);
    const [keys, found, foundCounts] = this.index.search(asStored, asked, count > 1 ? Math.min(threads, this.options.searchThreads) : 1);
    for (let q = 0; q < count; q++) {
      // i8 distances are in integer units: l2sq is scale^2 times the true one; ip (1 - dot) has
      // its dot scaled by the data's scale times the query's; cosine's is scale-free.
      let unit = 1;
      if (typeof this.int8 === 'number') unit = dot ? 1 / (this.int8 * queryScales![q]) : 1 / (this.int8 * this.int8);
      const n = Math.min(Number(foundCounts[q]), wanted);
      for (let i = 0; i < n; i++) {
        ordinals[q * wanted + i] = Number(keys[q * asked + i]);
        const distance = found[q * asked + i];
        if (unit === 1) distances[q * wanted + i] = distance;
        else if (!Number.isFinite(unit)) distances[q * wanted + i] = 1; // a zero query: every dot is 0
        else distances[q * wanted + i] = dot ? 1 - (1 - distance) * unit : distance * unit;
      }
      counts[q] = n;
    }
    return { wanted, ordinals, distances, counts };
  }

  search(query: Float32Array, k: number, options: IndexSearchOptions = {}): SearchHits {
    return this.searchBatch(query, k, options)[0];
  }

  searchBatch(queries: Float32Array, k: number, options: IndexSearchOptions = {}): SearchHits[] {
    if (!(Number.isSafeInteger(k) && k >= 1)) throw new RangeError(`k must be a positive integer, got ${k}`);
    const count = queries.length / this.dimensions;
    if (!Number.isInteger(count) || count < 1) {
      throw new RangeError(`queries hold ${queries.length} values, not a positive multiple of ${this.dimensions}`);
    }
    const ef = options.ef ?? this.options.efSearch;
    const filter = options.filter;
    if (!filter) return this.hits(this.candidates(queries, k, ef), count);
    // Filtered: oversample until k candidates pass or the graph has nothing more to give.
    const out: SearchHits[] = [];
    for (let q = 0; q < count; q++) {
      const query = queries.subarray(q * this.dimensions, (q + 1) * this.dimensions);
      let wanted = k;
      for (;;) {
        const found = this.candidates(query, wanted, ef);
        const hits = this.hits(found, 1, filter)[0];
        if (hits.ordinals.length >= k || found.counts[0] < wanted || wanted >= this.index.size()) {
          out.push({ ordinals: hits.ordinals.slice(0, k), distances: hits.distances.slice(0, k) });
          break;
        }
        wanted = Math.min(this.index.size(), wanted * INDEX_OVERSAMPLING_GROWTH);
      }
    }
    return out;
  }

  /** Writes the graph (usearch's own file format). */
  save(path: string): void {
    this.index.save(path);
  }

  /** usearch distances as ours: l2sq is squared, ip (1 - a.b) and cos (1 - cos) already match. */
  private hits(found: HnswCandidates, count: number, filter?: (ordinal: number) => boolean): SearchHits[] {
    const out: SearchHits[] = [];
    const squared = this.metric === 'euclidean';
    for (let q = 0; q < count; q++) {
      const ordinals: number[] = [];
      const distances: number[] = [];
      for (let i = 0; i < found.counts[q]; i++) {
        const ordinal = found.ordinals[q * found.wanted + i];
        if (filter && !filter(ordinal)) continue;
        const distance = found.distances[q * found.wanted + i];
        ordinals.push(ordinal);
        distances.push(squared ? Math.sqrt(Math.max(0, distance)) : distance);
      }
      out.push({ ordinals, distances });
    }
    return out;
  }
}
