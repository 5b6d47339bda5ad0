/**
 * Node side of `npm run bench:search` (driven by bench/search_bench.py, which runs faiss in the
 * same run). Generates the seeded clustered data once (files in .cache/bench, read by Python
 * with numpy.fromfile), then answers one JSON command per stdin line with one JSON line on
 * stdout, so that the driver can interleave our measurements with faiss's.
 *
 *   node --import tsx bench/search_index.ts --rows 100000 --dimensions 128 --queries 1000 \
 *        --m 16 --ef-construction 128 --build-threads 2
 *
 * Commands: {"cmd":"exact"} | {"cmd":"build","storage":"bf16"} |
 * {"cmd":"single","storage":"bf16","ef":64} | {"cmd":"batched","storage":"bf16","ef":64,"threads":1} |
 * {"cmd":"dataset","ef":64} | {"cmd":"quit"}
 * A storage written `i8+rescore` (any storage, `+rescore`) searches that storage's graph and
 * re-scores its candidates exactly from the float32 vectors, as the server does (the same
 * candidate count, rescoreCount; the same kernel), in process: the index without the worker's
 * round trip. i8 graphs take their scale from the first 8 MiB of vectors, as the server's do.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { configureConcurrentMarking } from '../packages/flight/src/gc.ts';
import { DatasetIndex } from '../packages/server/src/index/dataset-index.ts';
import { rescoreCount } from '../packages/server/src/index/dataset-search.ts';
import { DistanceKernel } from '../packages/server/src/index/distance-kernel.ts';
import { scanPicked } from '../packages/server/src/index/exact-search.ts';
import { FlatIndex } from '../packages/server/src/index/flat-index.ts';
import { HnswIndex } from '../packages/server/src/index/hnsw-index.ts';
import { int8ScaleFromRows, int8ScaleSampleRows, largestMagnitude, type HnswStorage } from '../packages/server/src/index/hnsw-storage.ts';
import { TopK } from '../packages/server/src/index/top-k.ts';
import { VectorChunks } from '../packages/server/src/index/vector-chunks.ts';
import { INDEX_GRAPH_BREADTH_FACTOR } from '../packages/server/src/limits.ts';
import { ClusteredVectors } from '../packages/server/test/vectors.ts';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    dimensions: { type: 'string', default: '128' },
    queries: { type: 'string', default: '1000' },
    m: { type: 'string', default: '16' },
    'ef-construction': { type: 'string', default: '128' },
    'build-threads': { type: 'string', default: '2' },
    'data-dir': { type: 'string', default: resolve(import.meta.dirname, '..', '.cache', 'bench') },
    seed: { type: 'string', default: '42' },
  },
});
const ROWS = Number(args.rows);
const DIMENSIONS = Number(args.dimensions);
const QUERIES = Number(args.queries);
const M = Number(args.m);
const EF_CONSTRUCTION = Number(args['ef-construction']);
const BUILD_THREADS = Number(args['build-threads']);
const SEED = Number(args.seed);
const K = 10;
/** Neighbours kept per query in the ground-truth file. */
const TRUTH_K = 100;

function reply(message: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

/** Writes atomically (a half-written file from an interrupted run is never read). */
function writeFile(path: string, data: Float32Array | Int32Array): void {
  writeFileSync(`${path}.tmp`, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  renameSync(`${path}.tmp`, path);
}

function readFloats(path: string): Float32Array {
  const bytes = readFileSync(path);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

interface BenchData {
  data: Float32Array;
  queries: Float32Array;
  /** Exact nearest ordinals, TRUTH_K per query (euclidean). */
  truth: Int32Array;
  files: { data: string; queries: string; truth: string };
  generatedSeconds: number;
}

/** The data files for this shape and seed, generated (with exact ground truth) when missing. */
function benchData(): BenchData {
  const directory = args['data-dir']!;
  mkdirSync(directory, { recursive: true });
  const stem = join(directory, `search-${ROWS}x${DIMENSIONS}-q${QUERIES}-s${SEED}`);
  const files = { data: `${stem}.data.f32`, queries: `${stem}.queries.f32`, truth: `${stem}.truth${TRUTH_K}.i32` };
  const started = performance.now();
  if (!existsSync(files.data) || !existsSync(files.queries) || !existsSync(files.truth)) {
    const generator = new ClusteredVectors({ dimensions: DIMENSIONS, seed: SEED });
    const data = new Float32Array(ROWS * DIMENSIONS);
    for (let start = 0; start < ROWS; start += 100_000) {
      const rows = Math.min(100_000, ROWS - start);
      data.set(generator.sample(rows), start * DIMENSIONS);
    }
    const queries = generator.sample(QUERIES);
    const flat = new FlatIndex(DIMENSIONS, 'euclidean');
    flat.add(0, data);
    const truth = new Int32Array(QUERIES * TRUTH_K);
    for (let q = 0; q < QUERIES; q += 100) {
      const hits = flat.searchBatch(queries.subarray(q * DIMENSIONS, Math.min(QUERIES, q + 100) * DIMENSIONS), TRUTH_K);
      hits.forEach((hit, i) => truth.set(hit.ordinals, (q + i) * TRUTH_K));
    }
    writeFile(files.data, data);
    writeFile(files.queries, queries);
    writeFile(files.truth, truth);
  }
  const truthBytes = readFileSync(files.truth);
  return {
    data: readFloats(files.data), queries: readFloats(files.queries),
    truth: new Int32Array(truthBytes.buffer, truthBytes.byteOffset, truthBytes.byteLength / 4),
    files, generatedSeconds: (performance.now() - started) / 1000,
  };
}

// V8's concurrent marking as the server sets it at startup (LONGBOW_GC_CONCURRENT_MARKING's
// default, auto: off on 2 cores or fewer), so the DatasetIndex step's event-loop delay is the
// server's: the marking threads would otherwise compete with the event loop for the cores.
const concurrentMarking = configureConcurrentMarking('auto');
const bench = benchData();
const queryAt = (q: number) => bench.queries.subarray(q * DIMENSIONS, (q + 1) * DIMENSIONS);

function recallAt10(q: number, ordinals: ArrayLike<number>): number {
  const wanted = new Set(bench.truth.subarray(q * TRUTH_K, q * TRUTH_K + K));
  let found = 0;
  for (let i = 0; i < Math.min(K, ordinals.length); i++) if (wanted.has(ordinals[i])) found++;
  return found / K;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

/** Exact scan throughput: one query at a time (GB/s of vectors read) and batches of 64. */
function exact(): Record<string, unknown> {
  const flat = new FlatIndex(DIMENSIONS, 'euclidean');
  flat.add(0, bench.data);
  const bytes = bench.data.byteLength;
  // Warm-up: a second of queries (one query left the first passes over freshly loaded vectors
  // in the measurement). The figure still moves with the machine's memory bandwidth: see
  // docs/performance.md, Method.
  const warmUntil = performance.now() + 1000;
  for (let q = 0; performance.now() < warmUntil; q++) flat.search(queryAt(q % 20), K);
  const single: number[] = [];
  let recall = 0;
  for (let q = 0; q < 20; q++) {
    const started = performance.now();
    const hits = flat.search(queryAt(q), K);
    single.push(performance.now() - started);
    recall += recallAt10(q, hits.ordinals);
  }
  const batchSize = 64;
  const started = performance.now();
  flat.searchBatch(bench.queries.subarray(0, batchSize * DIMENSIONS), K);
  const batchMs = performance.now() - started;
  return {
    exact_single_ms: median(single), exact_single_gbps: bytes / median(single) / 1e6,
    exact_batch64_gbps_per_query: (bytes * batchSize) / batchMs / 1e6, exact_recall: recall / 20,
  };
}

const graphs = new Map<HnswStorage, HnswIndex>();

/** `bf16` or `bf16+rescore` (see the file comment). */
function variant(name: string): { storage: HnswStorage; rescore: boolean } {
  const [storage, suffix] = name.split('+');
  return { storage: storage as HnswStorage, rescore: suffix === 'rescore' };
}

let exactRows: { chunks: VectorChunks; kernel: DistanceKernel } | undefined;

/** The float32 rows and kernel candidates are re-scored with (made once). */
function exactRowsOnce(): { chunks: VectorChunks; kernel: DistanceKernel } {
  if (!exactRows) {
    const chunks = new VectorChunks(DIMENSIONS);
    chunks.append(0, bench.data);
    exactRows = { chunks, kernel: new DistanceKernel('l2sq', DIMENSIONS) };
  }
  return exactRows;
}

/**
 * The best K of a graph's candidates for query q after exact re-scoring, as DatasetIndex's
 * search does: the graph explores max(ef, 4k) and gives its best rescoreCount(k).
 */
function rescored(index: HnswIndex, query: Float32Array, ef: number): number[] {
  const { chunks, kernel } = exactRowsOnce();
  const found = index.candidates(query, rescoreCount(index.options.storage, index.options.metric, K), Math.max(ef, K * INDEX_GRAPH_BREADTH_FACTOR));
  const top = new TopK(K);
  scanPicked(kernel, chunks, query, top, found.ordinals.subarray(0, found.counts[0]));
  return top.sorted().ordinals;
}

function build(storage: HnswStorage): Record<string, unknown> {
  // The server's scale: from the rows in the first 8 MiB of vectors (DatasetIndex.sampleScale).
  const sampleRows = Math.min(ROWS, int8ScaleSampleRows(DIMENSIONS));
  const scale = storage === 'i8'
    ? int8ScaleFromRows(Array.from({ length: sampleRows }, (_, row) => largestMagnitude(bench.data.subarray(row * DIMENSIONS, (row + 1) * DIMENSIONS))))
    : undefined;
  const index = new HnswIndex({
    dimensions: DIMENSIONS, metric: 'euclidean', m: M, efConstruction: EF_CONSTRUCTION, efSearch: 64, storage, insertThreads: BUILD_THREADS, scale,
  });
  const started = performance.now();
  const piece = 10_000;
  for (let start = 0; start < ROWS; start += piece) index.add(start, bench.data.subarray(start * DIMENSIONS, Math.min(ROWS, start + piece) * DIMENSIONS));
  const seconds = (performance.now() - started) / 1000;
  graphs.set(storage, index);
  return { storage, build_seconds: seconds, build_rate: ROWS / seconds, memory_bytes: index.memoryBytes };
}

function graph(storage: HnswStorage): HnswIndex {
  const index = graphs.get(storage);
  if (!index) throw new Error(`build ${storage} first`);
  return index;
}

/** Single-query search, one thread, every query once (after one warm-up pass over 100). */
function single(name: string, ef: number): Record<string, unknown> {
  const { storage, rescore } = variant(name);
  const index = graph(storage);
  const search = rescore ? (q: number) => rescored(index, queryAt(q), ef) : (q: number) => index.search(queryAt(q), K, { ef }).ordinals;
  for (let q = 0; q < Math.min(100, QUERIES); q++) search(q);
  const found: number[][] = [];
  const started = performance.now();
  for (let q = 0; q < QUERIES; q++) found.push(search(q));
  const seconds = (performance.now() - started) / 1000;
  let recall = 0; // scored after the clock stops, as the faiss side does
  for (let q = 0; q < QUERIES; q++) recall += recallAt10(q, found[q]);
  return { storage: name, ef, qps: QUERIES / seconds, recall: recall / QUERIES };
}

/** All queries in one call (usearch runs them on `threads` native threads); re-scored after it, on this thread, for `+rescore`. */
function batched(name: string, ef: number, threads: number): Record<string, unknown> {
  const { storage, rescore } = variant(name);
  const index = graph(storage);
  const wanted = rescore ? rescoreCount(storage, index.options.metric, K) : K;
  const { chunks, kernel } = exactRowsOnce();
  const started = performance.now();
  const found = index.candidates(bench.queries, wanted, rescore ? Math.max(ef, K * INDEX_GRAPH_BREADTH_FACTOR) : ef, threads);
  const results: ArrayLike<number>[] = [];
  for (let q = 0; q < QUERIES; q++) {
    const candidates = found.ordinals.subarray(q * wanted, q * wanted + found.counts[q]);
    if (!rescore) {
      results.push(candidates);
      continue;
    }
    const top = new TopK(K);
    scanPicked(kernel, chunks, queryAt(q), top, candidates);
    results.push(top.sorted().ordinals);
  }
  const seconds = (performance.now() - started) / 1000;
  let recall = 0;
  for (let q = 0; q < QUERIES; q++) recall += recallAt10(q, results[q]);
  return { storage: name, ef, threads, qps: QUERIES / seconds, recall: recall / QUERIES };
}

/**
 * Through DatasetIndex, as the server uses it: ingest in 10,000-row batches (event-loop delay
 * measured meanwhile), background indexing in the worker, then single and batched search
 * (graph candidates re-scored exactly, tail scan).
 */
async function dataset(ef: number): Promise<Record<string, unknown>> {
  const index = new DatasetIndex({ dimensions: DIMENSIONS, metric: 'euclidean', m: M, efConstruction: EF_CONSTRUCTION, efSearch: 64 });
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const started = performance.now();
  let appendMaxMs = 0;
  for (let start = 0; start < ROWS; start += 10_000) {
    const before = performance.now();
    index.append(start, bench.data.subarray(start * DIMENSIONS, Math.min(ROWS, start + 10_000) * DIMENSIONS));
    appendMaxMs = Math.max(appendMaxMs, performance.now() - before);
    await new Promise((resolve) => setImmediate(resolve));
  }
  // A search every 100 ms while indexing: the unindexed tail is scanned exactly, in slices.
  let searchesWhileIndexing = 0;
  while (index.indexedRows < index.rows) {
    await index.search(queryAt(searchesWhileIndexing % QUERIES), K, { ef });
    searchesWhileIndexing++;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const indexSeconds = (performance.now() - started) / 1000;
  delay.disable();
  let recall = 0;
  for (let q = 0; q < Math.min(100, QUERIES); q++) await index.search(queryAt(q), K, { ef }); // warm-up
  let searchStarted = performance.now();
  for (let q = 0; q < QUERIES; q++) recall += recallAt10(q, (await index.search(queryAt(q), K, { ef })).ordinals);
  const singleQps = QUERIES / ((performance.now() - searchStarted) / 1000);
  // Batched: two warm-up calls (the first runs the batch path cold: about half speed), then
  // the median of five.
  let many = await index.searchMany(bench.queries, K, { ef });
  many = await index.searchMany(bench.queries, K, { ef });
  const batchedRuns: number[] = [];
  for (let run = 0; run < 5; run++) {
    searchStarted = performance.now();
    many = await index.searchMany(bench.queries, K, { ef });
    batchedRuns.push(QUERIES / ((performance.now() - searchStarted) / 1000));
  }
  const batchedQps = median(batchedRuns);
  let batchedRecall = 0;
  many.forEach((hits, q) => { batchedRecall += recallAt10(q, hits.ordinals); });
  const memoryBytes = index.memoryBytes;
  await index.close();
  return {
    ef, index_seconds: indexSeconds, index_rate: ROWS / indexSeconds, append_max_ms: appendMaxMs,
    event_loop_max_ms: delay.max / 1e6, event_loop_p99_ms: delay.percentile(99) / 1e6, searches_while_indexing: searchesWhileIndexing,
    single_qps: singleQps, single_recall: recall / QUERIES, batched_qps: batchedQps, batched_recall: batchedRecall / QUERIES,
    memory_bytes: memoryBytes, gc_concurrent_marking: concurrentMarking,
  };
}

reply({ event: 'ready', rows: ROWS, dimensions: DIMENSIONS, queries: QUERIES, truth_k: TRUTH_K, files: bench.files, generated_seconds: bench.generatedSeconds });

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() === '') continue;
  const command = JSON.parse(line) as { cmd: string; storage?: string; ef?: number; threads?: number };
  try {
    switch (command.cmd) {
      case 'exact': reply(exact()); break;
      case 'build': reply(build(variant(command.storage ?? 'bf16').storage)); break;
      case 'single': reply(single(command.storage ?? 'bf16', command.ef ?? 64)); break;
      case 'batched': reply(batched(command.storage ?? 'bf16', command.ef ?? 64, command.threads ?? 1)); break;
      case 'dataset': reply(await dataset(command.ef ?? 64)); break;
      case 'quit': process.exit(0);
      default: reply({ error: `unknown command ${command.cmd}` });
    }
  } catch (error) {
    reply({ error: error instanceof Error ? error.stack ?? error.message : String(error) });
  }
}
