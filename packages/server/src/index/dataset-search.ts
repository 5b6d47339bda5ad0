/**
 * How DatasetIndex answers a search: graph candidates (from the worker) re-scored exactly and
 * merged with an exact scan of the rows the graph does not cover yet; or an exact scan of
 * everything (`exact`, no graph) or of a small candidate set (pre-filter). Long exact work is
 * done in slices that yield to the event loop.
 */
import type { DistanceKernel } from './distance-kernel.ts';
import type { HnswStorage } from './hnsw-storage.ts';
import type { Metric } from './metric.ts';
import { scanPicked, scanRange, type OrdinalFilter } from './exact-search.ts';
import type { IndexWorker } from './index-worker.ts';
import { OrdinalSet } from './ordinal-set.ts';
import { TopK } from './top-k.ts';
import type { VectorChunks } from './vector-chunks.ts';
import {
  INDEX_GRAPH_BREADTH_FACTOR, INDEX_OVERSAMPLING_FACTOR, INDEX_OVERSAMPLING_GROWTH,
  INDEX_OVERSAMPLING_ROWS_MAX, INDEX_PICKED_SLICE_BYTES, INDEX_RESCORE_EXTRA, INDEX_RESCORE_EXTRA_INT8_DOT,
  INDEX_RESCORE_FACTOR, INDEX_RESCORE_FACTOR_INT8_DOT, INDEX_SCAN_SLICE_BYTES,
} from '../limits.ts';

export interface DatasetSearchOptions {
  /** HNSW candidate list size for this search (the index's efSearch when absent). */
  ef?: number;
  /** Exact search over every row (no graph). */
  exact?: boolean;
  /** Rows for which this returns true never match (deleted rows). */
  exclude?: (ordinal: number) => boolean;
  /** Pre-filter result: only these ordinals may match (any order, duplicates allowed). */
  candidates?: ArrayLike<number>;
}

export interface SearchContext {
  dimensions: number;
  kernel: DistanceKernel;
  chunks: VectorChunks;
  removed: OrdinalSet;
  efSearch: number;
  /** Candidate sets up to this many rows, or this fraction of the rows, are searched exactly. */
  filterExactRowsMax: number;
  filterExactFraction: number;
  /** The worker, when its graph covers at least one row; else undefined (exact only). */
  graph(): IndexWorker | undefined;
  /** Native threads for a batch of queries in the worker. */
  batchThreads: number;
  /** Graph candidates re-scored exactly per query for k results (rescoreCount). */
  rescore(k: number): number;
}

/**
 * Graph candidates re-scored exactly per query for k results: max(2k, k + 10), except
 * max(4k, k + 30) for an i8 graph under dot_product (see limits.ts).
 */
export function rescoreCount(storage: HnswStorage, metric: Metric, k: number): number {
  return storage === 'i8' && metric === 'dot_product'
    ? Math.max(k * INDEX_RESCORE_FACTOR_INT8_DOT, k + INDEX_RESCORE_EXTRA_INT8_DOT)
    : Math.max(k * INDEX_RESCORE_FACTOR, k + INDEX_RESCORE_EXTRA);
}

/** Queries scanned together: their vectors stay in kernel memory while a block is scored. */
const QUERY_GROUP_SIZE = 64;

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function query(queries: Float32Array, index: number, dimensions: number): Float32Array {
  return queries.subarray(index * dimensions, (index + 1) * dimensions);
}

/** Exact scan of rows [from, to) for the queries `which`, in slices. */
async function scanSliced(
  context: SearchContext, queries: Float32Array, which: number[], tops: TopK[], from: number, to: number, allowed: OrdinalFilter,
): Promise<void> {
  const { dimensions } = context;
  if (from >= to) return;
  for (let group = 0; group < which.length; group += QUERY_GROUP_SIZE) {
    const members = which.slice(group, group + QUERY_GROUP_SIZE);
    const groupQueries = new Float32Array(members.length * dimensions);
    members.forEach((q, i) => groupQueries.set(query(queries, q, dimensions), i * dimensions));
    const groupTops = members.map((q) => tops[q]);
    const sliceRows = Math.max(1, Math.floor(INDEX_SCAN_SLICE_BYTES / (dimensions * 4 * members.length)));
    for (let start = from; start < to; start += sliceRows) {
      scanRange(context.kernel, context.chunks, groupQueries, groupTops, start, Math.min(to, start + sliceRows), allowed);
      if (start + sliceRows < to) await yieldToEventLoop();
    }
  }
}

/**
 * Exact scores of picked ordinals, query after query, yielding to the event loop whenever
 * INDEX_PICKED_SLICE_BYTES of rows were read since the last yield (counted across queries).
 */
export class PickedScorer {
  private readonly sliceRows: number;
  private sinceYield = 0;

  constructor(private readonly context: SearchContext) {
    this.sliceRows = Math.max(1, Math.floor(INDEX_PICKED_SLICE_BYTES / (context.dimensions * 4)));
  }

  /** The caller gave the event loop a turn: the slice starts again. */
  yielded(): void {
    this.sinceYield = 0;
  }

  /** Scores `ordinals` for one query. Undefined when no yield was due (no microtask per query). */
  score(vector: Float32Array, top: TopK, ordinals: number[], allowed?: OrdinalFilter): Promise<void> | undefined {
    if (this.sinceYield + ordinals.length < this.sliceRows) {
      scanPicked(this.context.kernel, this.context.chunks, vector, top, ordinals, allowed);
      this.sinceYield += ordinals.length;
      return undefined;
    }
    return this.sliced(vector, top, ordinals, allowed);
  }

  private async sliced(vector: Float32Array, top: TopK, ordinals: number[], allowed?: OrdinalFilter): Promise<void> {
    for (let start = 0; start < ordinals.length;) {
      const end = Math.min(ordinals.length, start + this.sliceRows - this.sinceYield);
      scanPicked(this.context.kernel, this.context.chunks, vector, top, ordinals.slice(start, end), allowed);
      this.sinceYield += end - start;
      start = end;
      if (this.sinceYield >= this.sliceRows) {
        await yieldToEventLoop();
        this.yielded();
      }
    }
  }
}

/** The search: one TopK per query, filled. */
export async function searchDataset(
  context: SearchContext, queries: Float32Array, k: number, options: DatasetSearchOptions,
): Promise<TopK[]> {
  const { dimensions, chunks, removed } = context;
  const count = queries.length / dimensions;
  const rows = chunks.rows; // rows appended while this search waits are not seen by it
  const tops = Array.from({ length: count }, () => new TopK(k));
  const all = Array.from({ length: count }, (_, i) => i);
  if (rows === 0) return tops;
  const exclude = options.exclude;
  const visible: OrdinalFilter = removed.size === 0 && !exclude
    ? () => true
    : (ordinal) => !removed.has(ordinal) && !(exclude?.(ordinal) ?? false);

  const graph = options.exact ? undefined : context.graph();
  let candidates: number[] | undefined;
  let allowed = visible;
  if (options.candidates) {
    candidates = [];
    const seen = new OrdinalSet();
    for (let i = 0; i < options.candidates.length; i++) {
      const ordinal = options.candidates[i];
      if (ordinal >= 0 && ordinal < rows && seen.add(ordinal)) candidates.push(ordinal);
    }
    const smallEnough = candidates.length <= Math.max(context.filterExactRowsMax, rows * context.filterExactFraction);
    if (!graph || smallEnough || candidates.length <= k) {
      const scorer = new PickedScorer(context);
      for (const q of all) {
        const rest = scorer.score(query(queries, q, dimensions), tops[q], candidates, visible);
        if (rest) await rest;
      }
      return tops;
    }
    allowed = (ordinal) => seen.has(ordinal) && visible(ordinal);
  }
  if (!graph) {
    await scanSliced(context, queries, all, tops, 0, rows, allowed);
    return tops;
  }
  const selectivity = candidates ? candidates.length / rows : 1;
  const indexedRows = await searchGraph(context, graph, queries, k, options.ef ?? context.efSearch, selectivity, allowed, tops);
  await scanSliced(context, queries, all, tops, Math.min(indexedRows, rows), rows, allowed);
  return tops;
}

/**
 * Graph candidates for every query, filtered by `allowed` and re-scored exactly into `tops`.
 * Queries whose filter leaves too few candidates ask again for more (oversampling), and past
 * INDEX_OVERSAMPLING_ROWS_MAX are scanned exactly over the graph's rows. Returns the rows the
 * graph covered (the caller scans the rest).
 */
async function searchGraph(
  context: SearchContext, graph: IndexWorker, queries: Float32Array, k: number, ef: number,
  selectivity: number, allowed: OrdinalFilter, tops: TopK[],
): Promise<number> {
  const { dimensions } = context;
  // The graph explores at least `breadth` candidates whatever ef says (recall at low ef and
  // large k depends on it); the best `rescore` of those that pass are re-scored.
  const breadth = k * INDEX_GRAPH_BREADTH_FACTOR;
  const rescore = context.rescore(k);
  const explored = Math.max(ef, breadth);
  let wanted = Math.ceil(selectivity < 1 ? Math.max(breadth * INDEX_OVERSAMPLING_FACTOR, rescore) / selectivity : rescore);
  let pending = Array.from({ length: tops.length }, (_, i) => i);
  let indexedRows: number | undefined;
  const exhaustedGraph: number[] = [];
  const scorer = new PickedScorer(context);
  while (pending.length > 0) {
    wanted = Math.min(wanted, INDEX_OVERSAMPLING_ROWS_MAX);
    const asked = pending.length === tops.length ? queries : gatherQueries(queries, pending, dimensions);
    const found = await graph.search(asked, wanted, explored, pending.length > 1 ? context.batchThreads : 1);
    scorer.yielded(); // waiting for the worker was a turn of the event loop
    // Every round keeps to the rows the first one covered (the graph only grows): the tail
    // scan starts there, so no row is scored twice.
    indexedRows ??= found.indexedRows;
    const again: number[] = [];
    for (let i = 0; i < pending.length; i++) {
      const q = pending[i];
      const passing: number[] = [];
      // Candidates come best first by the graph's (bf16 or i8) distance, which moves a neighbour
      // only a few places: the first `rescore` that pass are re-scored, the rest are not.
      for (let j = 0; j < found.counts[i] && passing.length < rescore; j++) {
        const ordinal = found.ordinals[i * found.wanted + j];
        if (ordinal < indexedRows && allowed(ordinal)) passing.push(ordinal);
      }
      const enough = passing.length >= k || found.counts[i] < wanted;
      if (!enough && wanted >= INDEX_OVERSAMPLING_ROWS_MAX) {
        exhaustedGraph.push(q);
        continue;
      }
      if (!enough) {
        again.push(q);
        continue;
      }
      const rest = scorer.score(query(queries, q, dimensions), tops[q], passing);
      if (rest) await rest;
    }
    pending = again;
    wanted *= INDEX_OVERSAMPLING_GROWTH;
  }
  const covered = indexedRows ?? 0;
  if (exhaustedGraph.length > 0) await scanSliced(context, queries, exhaustedGraph, tops, 0, covered, allowed);
  return covered;
}

function gatherQueries(queries: Float32Array, which: number[], dimensions: number): Float32Array {
  const out = new Float32Array(which.length * dimensions);
  which.forEach((q, i) => out.set(query(queries, q, dimensions), i * dimensions));
  return out;
}
