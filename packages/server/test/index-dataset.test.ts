/**
 * DatasetIndex, the per-dataset coordinator: background indexing in the worker thread, search
 * right after append (exact over the unindexed tail), recall against exact search for every
 * metric with and without filters, deletes and upserts, save/load, other element types, and
 * the event loop staying responsive during a large ingest.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Field, FixedSizeList, Float16, Float64, Int8, makeData, type Data } from 'apache-arrow';
import { BuildSlots } from '../src/index/build-slots.ts';
import { DatasetIndex, type DatasetIndexOptions } from '../src/index/dataset-index.ts';
import { PickedScorer, rescoreCount, type SearchContext } from '../src/index/dataset-search.ts';
import { DistanceKernel } from '../src/index/distance-kernel.ts';
import { FlatIndex } from '../src/index/flat-index.ts';
import { HnswIndex } from '../src/index/hnsw-index.ts';
import { int8ScaleFromRows, largestMagnitude, takesScale } from '../src/index/hnsw-storage.ts';
import { METRICS, metricSpec, type Metric } from '../src/index/metric.ts';
import { OrdinalSet } from '../src/index/ordinal-set.ts';
import { TopK } from '../src/index/top-k.ts';
import { VectorChunks } from '../src/index/vector-chunks.ts';
import { vectorsFromData } from '../src/index/vector-conversion.ts';
import { clusteredDataset, recallAt } from './vectors.ts';

const DIMENSIONS = 32;
const ROWS = 6000;
const QUERIES = 60;
const K = 10;
const RECALL_BUDGET = 0.95;
/** Graph precisions whose served results (candidates re-scored exactly) must keep the budget. */
const STORAGES = ['bf16', 'i8'] as const;

const { data, queries } = clusteredDataset({ rows: ROWS, queries: QUERIES, dimensions: DIMENSIONS, seed: 99 });
const queryAt = (q: number) => queries.subarray(q * DIMENSIONS, (q + 1) * DIMENSIONS);
/** The scale an i8 graph takes from `rows` (row-major), as DatasetIndex does. */
const scaleOf = (rows: Float32Array) => int8ScaleFromRows(Array.from({ length: rows.length / DIMENSIONS }, (_, row) => largestMagnitude(rows.subarray(row * DIMENSIONS, (row + 1) * DIMENSIONS))));
const rowsOf = (from: number, to: number) => data.subarray(from * DIMENSIONS, to * DIMENSIONS);

const directories: string[] = [];
const open: DatasetIndex[] = [];
after(async () => {
  await Promise.all(open.map((index) => index.close()));
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

function temporaryDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'longbow-index-'));
  directories.push(directory);
  return directory;
}

function options(metric: Metric, extra: Partial<DatasetIndexOptions> = {}): DatasetIndexOptions {
  // A small exact-only threshold so that these small datasets get a graph.
  return { dimensions: DIMENSIONS, metric, m: 16, efConstruction: 64, efSearch: 64, flatOnlyBytesMax: 64 * 1024, insertThreads: 1, ...extra };
}

function track(index: DatasetIndex): DatasetIndex {
  open.push(index);
  return index;
}

/** Appends `data` in batches of 1000 rows, as DoPut batches would arrive. */
function appendAll(index: DatasetIndex, from = 0, to = ROWS): void {
  for (let start = from; start < to; start += 1000) index.append(start, rowsOf(start, Math.min(to, start + 1000)));
}

async function untilIndexed(index: DatasetIndex, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (index.indexedRows < index.rows) {
    assert.ok(Date.now() < deadline, `indexing did not finish in time (${index.indexedRows}/${index.rows}, ${index.state})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Event-loop turns taken while `work()` runs (counting starts before the work does). */
async function turnsDuring<T>(work: () => Promise<T>): Promise<{ result: T; turns: number }> {
  let done = false;
  let turns = 0;
  const spin = (): void => { if (!done) { turns++; setImmediate(spin); } };
  setImmediate(spin);
  const result = await work().finally(() => { done = true; });
  return { result, turns };
}

function exactIndex(metric: Metric): FlatIndex {
  const flat = new FlatIndex(DIMENSIONS, metric);
  flat.add(0, data);
  return flat;
}

describe('DatasetIndex search and recall', () => {
  for (const [metric, storage] of METRICS.flatMap((metric) => STORAGES.map((storage) => [metric, storage] as const))) {
    test(`${metric}, ${storage} graph: recall@${K} >= ${RECALL_BUDGET} once indexed; distances identical to the flat index`, async (t) => {
      const index = track(new DatasetIndex(options(metric, { storage })));
      appendAll(index);
      await untilIndexed(index);
      assert.equal(index.state, 'ready');
      const exact = exactIndex(metric);
      const truth = exact.searchBatch(queries, K);
      const batched = await index.searchMany(queries, K);
      let single = 0;
      let many = 0;
      for (let q = 0; q < QUERIES; q++) {
        const hits = await index.search(queryAt(q), K);
        single += recallAt(hits.ordinals, truth[q].ordinals);
        many += recallAt(batched[q].ordinals, truth[q].ordinals);
        // Every reported number comes from the one exact kernel: equal pairs, equal numbers.
        const all = exact.search(queryAt(q), ROWS);
        const byOrdinal = new Map(all.ordinals.map((ordinal, i) => [ordinal, all.distances[i]]));
        hits.ordinals.forEach((ordinal, i) => assert.equal(hits.distances[i], byOrdinal.get(ordinal)));
        for (let i = 1; i < hits.scores.length; i++) assert.ok(hits.scores[i - 1] >= hits.scores[i], 'higher score is closer');
      }
      t.diagnostic(`${metric}, ${storage}: recall@${K} single ${(single / QUERIES).toFixed(3)}, batched ${(many / QUERIES).toFixed(3)}`);
      assert.ok(single / QUERIES >= RECALL_BUDGET && many / QUERIES >= RECALL_BUDGET);
    });

    test(`${metric}, ${storage} graph: filtered search (pre-filter candidates, graph with oversampling) keeps recall`, async (t) => {
      const index = track(new DatasetIndex(options(metric, { filterExactRowsMax: 100, storage })));
      appendAll(index);
      await untilIndexed(index);
      const exact = exactIndex(metric);
      for (const [name, keep] of [['40%', (o: number) => o % 5 < 2], ['10%', (o: number) => o % 10 === 3], ['3%', (o: number) => o % 33 === 0]] as const) {
        const candidates = Array.from({ length: ROWS }, (_, o) => o).filter(keep);
        const excluded = (ordinal: number) => ordinal % 7 === 0;
        let recall = 0;
        for (let q = 0; q < QUERIES; q++) {
          const hits = await index.search(queryAt(q), K, { candidates, exclude: excluded });
          assert.ok(hits.ordinals.every((o) => keep(o) && !excluded(o)), 'only candidates that are not excluded');
          recall += recallAt(hits.ordinals, exact.search(queryAt(q), K, { filter: (o) => keep(o) && !excluded(o) }).ordinals);
        }
        t.diagnostic(`${metric}, ${storage}: filter ${name}: recall@${K} ${(recall / QUERIES).toFixed(3)}`);
        assert.ok(recall / QUERIES >= RECALL_BUDGET, `filter ${name}: recall ${recall / QUERIES}`);
      }
    });
  }

  test('a search right after append sees the new rows (exact over the unindexed tail)', async () => {
    const index = track(new DatasetIndex(options('euclidean')));
    appendAll(index, 0, 5000);
    await untilIndexed(index);
    index.append(5000, rowsOf(5000, ROWS));
    assert.ok(index.indexedRows < index.rows, 'the new rows are not indexed yet');
    for (const ordinal of [5000, 5555, ROWS - 1]) {
      const hits = await index.search(rowsOf(ordinal, ordinal + 1).slice(), 1);
      assert.equal(hits.distances[0], 0);
      assert.equal(hits.ordinals[0], ordinal);
    }
    const exact = exactIndex('euclidean').searchBatch(queries, K);
    const hits = await index.searchMany(queries, K);
    let recall = 0;
    for (let q = 0; q < QUERIES; q++) recall += recallAt(hits[q].ordinals, exact[q].ordinals);
    assert.ok(recall / QUERIES >= RECALL_BUDGET);
  });

  test('exact: true and a small candidate set are answered exactly', async () => {
    const index = track(new DatasetIndex(options('cosine')));
    appendAll(index);
    await untilIndexed(index);
    const exact = exactIndex('cosine');
    for (let q = 0; q < 10; q++) {
      assert.deepEqual((await index.search(queryAt(q), K, { exact: true })).ordinals, exact.search(queryAt(q), K).ordinals);
      const candidates = [17, 4000, 5, 9, 250, 251, 252, 5999, 17];
      const expected = exact.search(queryAt(q), K, { filter: (o) => candidates.includes(o) }).ordinals;
      assert.deepEqual((await index.search(queryAt(q), K, { candidates })).ordinals, expected);
    }
  });

  test('rows scored one by one yield to the event loop across the queries of a batch', async () => {
    const index = track(new DatasetIndex(options('euclidean')));
    appendAll(index);
    await untilIndexed(index);
    // Pre-filtered: 60 queries x 6,000 candidate rows, each query well under a slice.
    const candidates = Array.from({ length: ROWS }, (_, i) => i);
    const filtered = await turnsDuring(() => index.searchMany(queries, K, { candidates }));
    const exact = exactIndex('euclidean').searchBatch(queries, K);
    filtered.result.forEach((hits, q) => assert.deepEqual(hits.ordinals, exact[q].ordinals));
    const sliceRows = (2 * 1024 * 1024) / (DIMENSIONS * 4);
    assert.ok(filtered.turns >= Math.floor((QUERIES * ROWS) / sliceRows) - 1, `pre-filtered batch: ${filtered.turns} turns`);
  });

  test('PickedScorer yields once per slice of rows, counted across queries, and restarts after a caller\'s yield', async () => {
    const chunks = new VectorChunks(DIMENSIONS);
    chunks.append(0, data);
    const context: SearchContext = {
      dimensions: DIMENSIONS, kernel: new DistanceKernel('l2sq', DIMENSIONS), chunks, removed: new OrdinalSet(), efSearch: 64,
      filterExactRowsMax: 0, filterExactFraction: 0, graph: () => undefined, batchThreads: 1, rescore: (k) => 2 * k,
    };
    const sliceRows = (2 * 1024 * 1024) / (DIMENSIONS * 4);
    const picked = Array.from({ length: 2000 }, (_, i) => (i * 7) % ROWS); // as re-scoring k = 1000 would
    const flat = exactIndex('euclidean');
    const scorer = new PickedScorer(context);
    let sliced = 0;
    const tops = Array.from({ length: QUERIES }, () => new TopK(K));
    const { turns } = await turnsDuring(async () => {
      for (let q = 0; q < QUERIES; q++) {
        const rest = scorer.score(queryAt(q), tops[q], picked);
        if (rest) {
          sliced++;
          await rest;
        }
      }
    });
    const expectedYields = Math.floor((QUERIES * picked.length) / sliceRows);
    assert.equal(sliced, expectedYields);
    assert.ok(turns >= expectedYields, `${turns} event-loop turns for ${expectedYields} slices`);
    tops.forEach((top, q) => assert.deepEqual(top.sorted().ordinals, flat.search(queryAt(q), K, { filter: (o) => picked.includes(o) }).ordinals));
    // After the caller yields, a whole slice is due again before the next yield.
    const fresh = new PickedScorer(context);
    const rows = Array.from({ length: sliceRows - 1 }, (_, i) => i % ROWS);
    assert.equal(fresh.score(queryAt(0), new TopK(K), rows), undefined);
    fresh.yielded();
    assert.equal(fresh.score(queryAt(0), new TopK(K), rows), undefined);
    const due = fresh.score(queryAt(0), new TopK(K), [1, 2]);
    assert.ok(due instanceof Promise);
    await due;
  });

  test('the indexing worker runs below the event loop (nice + 10 on Linux)', { skip: process.platform !== 'linux' }, async () => {
    const index = track(new DatasetIndex(options('euclidean')));
    appendAll(index);
    await untilIndexed(index);
    /** Nice value of each thread of this process, by thread id (field 19 of /proc/.../stat). */
    const niceByThread = new Map(readdirSync('/proc/self/task').map((tid) => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      return [Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])] as const;
    }));
    const main = niceByThread.get(process.pid)!;
    assert.equal(main, getPriority(), 'the main thread keeps its priority');
    const lowered = Math.min(19, main + 10);
    assert.ok([...niceByThread.values()].includes(lowered), `no thread at nice ${lowered}: ${JSON.stringify([...niceByThread])}`);
  });

  test('deletes and upserts are honoured', async () => {
    const index = track(new DatasetIndex(options('euclidean')));
    appendAll(index);
    await untilIndexed(index);
    const target = queryAt(0);
    const before = await index.search(target, K);
    // Delete the three nearest rows: one via remove (graph), two via the store's predicate.
    index.remove(before.ordinals[0]);
    const tombstones = new Set([before.ordinals[1], before.ordinals[2]]);
    const after = await index.search(target, K, { exclude: (o) => tombstones.has(o) });
    assert.deepEqual(after.ordinals.slice(0, K - 3), before.ordinals.slice(3));
    // Upsert: the row's old ordinal is deleted, its new version appended (a new ordinal).
    const moved = before.ordinals[3];
    index.remove(moved);
    index.append(ROWS, target.slice()); // the new version sits exactly on the query
    const upserted = await index.search(target, K, { exclude: (o) => tombstones.has(o) });
    assert.equal(upserted.ordinals[0], ROWS);
    assert.equal(upserted.distances[0], 0);
    assert.ok(!upserted.ordinals.includes(moved) && !upserted.ordinals.includes(before.ordinals[0]));
    await untilIndexed(index);
    const indexed = await index.search(target, K, { exclude: (o) => tombstones.has(o) });
    assert.deepEqual(indexed.ordinals, upserted.ordinals, 'the same once the graph has the new row');
  });

  test('a dead worker is logged and searches go on exactly', async () => {
    const errors: string[] = [];
    const logger = { warn: () => {}, error: (_: unknown, message: string) => errors.push(message), debug: () => {} };
    const index = track(new DatasetIndex(options('euclidean', { logger: logger as never })));
    appendAll(index);
    await untilIndexed(index);
    await index['worker']!['worker'].terminate(); // as if the thread crashed
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(index.state, 'failed');
    assert.ok(errors.some((message) => /worker failed/.test(message)), errors.join('; '));
    const exact = exactIndex('euclidean');
    assert.deepEqual((await index.search(queryAt(2), K)).ordinals, exact.search(queryAt(2), K).ordinals);
    index.append(ROWS, queryAt(2).slice());
    assert.equal((await index.search(queryAt(2), 1)).ordinals[0], ROWS);
  });

  test('invalid arguments are refused', async () => {
    const index = track(new DatasetIndex(options('euclidean')));
    index.append(0, rowsOf(0, 10));
    await assert.rejects(index.search(queryAt(0), 0), RangeError);
    await assert.rejects(index.search(new Float32Array(DIMENSIONS + 1), 1), RangeError);
    assert.throws(() => index.append(5, rowsOf(0, 1)), /in order/);
    assert.deepEqual((await new DatasetIndex(options('euclidean')).search(queryAt(0), 3)).ordinals, []);
  });
});

describe('re-scoring covers how far an i8 graph moves a true neighbour', () => {
  // The exact top-k among a graph's first 80 candidates must sit within the first
  // rescoreCount(k) of the graph's order. On these vectors (seeded; the graph build gives the same
  // order each time), the deepest one is the 15th for euclidean and cosine and the 22nd for
  // dot_product, whose clipped rows of largest magnitude are its best matches: 2k would miss it.
  const dimensions = 32;
  const k = 10;
  const explored = 80;
  const sample = clusteredDataset({ rows: 10_000, queries: 200, dimensions, seed: 11 });
  for (const metric of METRICS) {
    test(`${metric}: every exact top-${k} row is among the first ${rescoreCount('i8', metric, k)} candidates`, () => {
      const rowMaxima = Array.from({ length: 10_000 }, (_, row) => largestMagnitude(sample.data.subarray(row * dimensions, (row + 1) * dimensions)));
      const graph = new HnswIndex({
        dimensions, metric, m: 16, efConstruction: 128, efSearch: 64, storage: 'i8', insertThreads: 1,
        scale: takesScale('i8', metric) ? int8ScaleFromRows(rowMaxima) : undefined,
      });
      graph.add(0, sample.data);
      const kernel = new DistanceKernel(metricSpec(metric).kernel, dimensions);
      const found = graph.candidates(sample.queries, explored, explored);
      let deepest = 0;
      for (let q = 0; q < 200; q++) {
        const ordinals = Array.from(found.ordinals.subarray(q * explored, q * explored + found.counts[q]));
        const keys = new Float64Array(ordinals.length);
        const query = sample.queries.subarray(q * dimensions, (q + 1) * dimensions);
        kernel.scanPicked(query, ordinals.length, (i) => sample.data.subarray(ordinals[i] * dimensions, (ordinals[i] + 1) * dimensions), (_, scores, first, rows) => {
          for (let i = 0; i < rows; i++) keys[first + i] = scores[i];
        });
        const exactOrder = ordinals.map((_, i) => i).sort((a, b) => keys[a] - keys[b]);
        deepest = Math.max(deepest, ...exactOrder.slice(0, k).map((place) => place + 1));
      }
      assert.ok(deepest <= rescoreCount('i8', metric, k), `a true top-${k} row was candidate ${deepest} in the graph's order`);
      assert.ok(deepest >= k, 'the check looked at the candidates');
      // The larger count for dot_product is still needed on these vectors (else this test no longer guards it).
      if (metric === 'dot_product') assert.ok(deepest > Math.max(2 * k, k + 10), `deepest ${deepest}: within 2k`);
      // And DatasetIndex (an i8 graph by default) re-scores that many for this metric.
      const index = track(new DatasetIndex({ ...options(metric), dimensions }));
      assert.equal((index as unknown as { context: SearchContext }).context.rescore(k), rescoreCount('i8', metric, k));
    });
  }
});

describe('DatasetIndex persistence', () => {
  test('save then load gives identical results without re-indexing', async () => {
    const index = track(new DatasetIndex(options('dot_product')));
    appendAll(index);
    await untilIndexed(index);
    index.remove(123);
    const directory = temporaryDirectory();
    const saved = await index.save(directory);
    assert.equal(saved.rows, ROWS);
    const expected = await index.searchMany(queries, K, { ef: 32 });

    const loaded = track(await DatasetIndex.load(directory, { ...options('dot_product'), rows: ROWS }));
    appendAll(loaded);
    await loaded.ready();
    assert.equal(loaded.indexedRows, ROWS, 'the loaded graph covers every row: nothing is indexed again');
    assert.equal(loaded.state, 'ready');
    loaded.remove(123); // the store re-applies its tombstones after a restart
    assert.deepEqual(await loaded.searchMany(queries, K, { ef: 32 }), expected);
  });

  for (const metric of ['euclidean', 'cosine'] as const) {
    test(`${metric}: an i8 graph is saved with its scale and loaded with it: identical results`, async () => {
      const index = track(new DatasetIndex(options(metric, { storage: 'i8' })));
      appendAll(index);
      await untilIndexed(index);
      const directory = temporaryDirectory();
      await index.save(directory);
      const meta = JSON.parse(readFileSync(join(directory, 'index.json'), 'utf8')) as { storage: string; scale?: number };
      assert.equal(meta.storage, 'i8');
      // The scale comes from the rows there when the graph started, here the first append's
      // (cosine normalizes each vector and has none).
      assert.equal(meta.scale, metric === 'cosine' ? undefined : scaleOf(rowsOf(0, 1000)));
      const expected = await index.searchMany(queries, K);
      // Loaded by a server whose setting is now bf16: the saved graph keeps its own precision.
      const loaded = track(await DatasetIndex.load(directory, { ...options(metric, { storage: 'bf16' }), rows: ROWS }));
      appendAll(loaded);
      await loaded.ready();
      assert.equal(loaded.indexedRows, ROWS);
      assert.deepEqual(await loaded.searchMany(queries, K), expected);
      const again = temporaryDirectory();
      await loaded.save(again);
      assert.deepEqual(JSON.parse(readFileSync(join(again, 'index.json'), 'utf8')), JSON.parse(readFileSync(join(directory, 'index.json'), 'utf8')));
    });
  }

  test('an i8 graph takes its scale from every row there when it starts, across appended batches', async () => {
    // 500-row batches of 64 KiB: the graph starts with the fourth (past 200 KiB), over four chunks.
    const index = track(new DatasetIndex(options('dot_product', { storage: 'i8', flatOnlyBytesMax: 200 * 1024 })));
    for (let start = 0; start < ROWS; start += 500) index.append(start, rowsOf(start, start + 500));
    await untilIndexed(index);
    const directory = temporaryDirectory();
    await index.save(directory);
    const meta = JSON.parse(readFileSync(join(directory, 'index.json'), 'utf8')) as { scale: number };
    assert.notEqual(scaleOf(rowsOf(0, 2000)), scaleOf(rowsOf(0, 500)), 'the test data must tell the two apart');
    assert.equal(meta.scale, scaleOf(rowsOf(0, 2000)));
  });

  test('an i8 graph\'s scale ignores a few outlying rows (their values are clipped instead); the rest keep recall', async () => {
    const outlying = rowsOf(0, 1000).slice();
    for (let i = 3 * DIMENSIONS; i < 4 * DIMENSIONS; i++) outlying[i] *= 1000;
    const index = track(new DatasetIndex(options('euclidean', { storage: 'i8' })));
    index.append(0, outlying);
    appendAll(index, 1000);
    await untilIndexed(index);
    const directory = temporaryDirectory();
    await index.save(directory);
    const meta = JSON.parse(readFileSync(join(directory, 'index.json'), 'utf8')) as { scale: number };
    const clean = scaleOf(rowsOf(0, 1000))!;
    assert.ok(Math.abs(meta.scale - clean) <= 0.1 * clean, `scale ${meta.scale}, without the outlier ${clean}`);
    assert.ok(meta.scale > 100 * (127 / largestMagnitude(outlying)), 'not the outlier\'s');
    const exact = new FlatIndex(DIMENSIONS, 'euclidean');
    exact.add(0, outlying);
    exact.add(1000, rowsOf(1000, ROWS));
    let recall = 0;
    for (let q = 0; q < QUERIES; q++) recall += recallAt((await index.search(queryAt(q), K)).ordinals, exact.search(queryAt(q), K).ordinals);
    assert.ok(recall / QUERIES >= RECALL_BUDGET, `recall ${recall / QUERIES}`);
    // The outlier itself is clipped in the graph, which then finds it less reliably
    // (docs/search.md); an exact search always does.
    const outlier = outlying.slice(3 * DIMENSIONS, 4 * DIMENSIONS);
    assert.deepEqual((await index.search(outlier, 1, { exact: true })).ordinals, [3]);
  });

  test('an i8 graph waits for rows with values: NaN rows (no vector) give no scale', async () => {
    // A vector column added to a dataset pads its earlier rows with NaN.
    const index = track(new DatasetIndex(options('euclidean', { storage: 'i8' })));
    const padding = new Float32Array(2000 * DIMENSIONS).fill(Number.NaN);
    index.append(0, padding);
    assert.equal(index.state, 'flat', 'no graph while the rows hold no value');
    index.append(2000, rowsOf(0, 1000));
    assert.notEqual(index.state, 'flat');
    await untilIndexed(index);
    const directory = temporaryDirectory();
    await index.save(directory);
    const meta = JSON.parse(readFileSync(join(directory, 'index.json'), 'utf8')) as { scale: number };
    assert.equal(meta.scale, scaleOf(rowsOf(0, 1000)));
    const hits = await index.search(rowsOf(5, 6).slice(), 1);
    assert.deepEqual(hits.ordinals, [2005]);
  });

  test('an exact-only dataset under the i8 setting saves an index.json that loads without a warning', async () => {
    const warnings: string[] = [];
    const logger = { warn: (_: unknown, message: string) => warnings.push(message), error: () => {}, debug: () => {} };
    const index = track(new DatasetIndex(options('dot_product', { storage: 'i8', flatOnlyBytesMax: 1 << 30 })));
    appendAll(index);
    const directory = temporaryDirectory();
    await index.save(directory);
    const loaded = track(await DatasetIndex.load(directory, { ...options('dot_product', { storage: 'i8', flatOnlyBytesMax: 1 << 30 }), rows: ROWS, logger: logger as never }));
    assert.deepEqual(warnings, []);
    appendAll(loaded);
    assert.equal(loaded.state, 'flat');
  });

  test('an i8 index.json without a usable scale is refused and the graph rebuilt', async () => {
    const index = track(new DatasetIndex(options('euclidean', { storage: 'i8' })));
    appendAll(index);
    await untilIndexed(index);
    const directory = temporaryDirectory();
    await index.save(directory);
    const metaPath = join(directory, 'index.json');
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(metaPath, JSON.stringify({ ...meta, scale: -1 }));
    const warnings: string[] = [];
    const logger = { warn: (fields: { err?: Error }, message: string) => warnings.push(`${message}: ${fields.err?.message}`), error: () => {}, debug: () => {} };
    const loaded = track(await DatasetIndex.load(directory, { ...options('euclidean', { storage: 'i8' }), rows: ROWS, logger: logger as never }));
    assert.ok(warnings.some((message) => /unreadable.*i8 storage needs a positive scale, got -1/.test(message)), warnings.join('; '));
    appendAll(loaded);
    await untilIndexed(loaded);
    const exact = exactIndex('euclidean');
    assert.deepEqual((await loaded.search(queryAt(2), K)).ordinals, exact.search(queryAt(2), K).ordinals);
  });

  test('a graph covering more rows than the snapshot drops them and re-indexes what is appended', async () => {
    const index = track(new DatasetIndex(options('euclidean')));
    appendAll(index);
    await untilIndexed(index);
    const directory = temporaryDirectory();
    await index.save(directory);
    const loaded = track(await DatasetIndex.load(directory, { ...options('euclidean'), rows: 4000 }));
    appendAll(loaded, 0, 4000);
    // The log replays different rows 4000.. (say, after a truncated recovery): reversed order.
    const replay = new Float32Array(rowsOf(4000, ROWS).length);
    for (let row = 0; row < 2000; row++) replay.set(rowsOf(ROWS - 1 - row, ROWS - row), row * DIMENSIONS);
    loaded.append(4000, replay);
    await untilIndexed(loaded);
    const hits = await loaded.search(rowsOf(ROWS - 1, ROWS).slice(), 1);
    assert.deepEqual([hits.ordinals[0], hits.distances[0]], [4000, 0]);
  });

  test('a damaged graph file is rebuilt, not trusted', async () => {
    const index = track(new DatasetIndex(options('euclidean')));
    appendAll(index);
    await untilIndexed(index);
    const directory = temporaryDirectory();
    await index.save(directory);
    const file = join(directory, 'hnsw.usearch');
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(file, bytes);
    const warnings: string[] = [];
    const logger = { warn: (_: unknown, message: string) => warnings.push(message), error: () => {}, debug: () => {} };
    const loaded = track(await DatasetIndex.load(directory, { ...options('euclidean'), rows: ROWS, logger: logger as never }));
    appendAll(loaded);
    const exact = exactIndex('euclidean');
    assert.deepEqual((await loaded.search(queryAt(1), K)).ordinals, exact.search(queryAt(1), K).ordinals);
    await untilIndexed(loaded);
    assert.ok(warnings.some((message) => /rebuilding/.test(message)), warnings.join('; '));
    let recall = 0;
    for (let q = 0; q < QUERIES; q++) recall += recallAt((await loaded.search(queryAt(q), K)).ordinals, exact.search(queryAt(q), K).ordinals);
    assert.ok(recall / QUERIES >= RECALL_BUDGET);
  });

  test('an exact-only dataset saves no graph and loads as exact-only', async () => {
    const index = track(new DatasetIndex(options('euclidean', { flatOnlyBytesMax: 1 << 30 })));
    appendAll(index);
    assert.equal(index.state, 'flat');
    const directory = temporaryDirectory();
    assert.equal((await index.save(directory)).rows, 0);
    const loaded = track(await DatasetIndex.load(directory, { ...options('euclidean', { flatOnlyBytesMax: 1 << 30 }), rows: ROWS }));
    appendAll(loaded);
    assert.equal(loaded.state, 'flat');
    assert.deepEqual(await loaded.search(queryAt(0), K), await index.search(queryAt(0), K));
  });
});

function listData(type: Float16 | Float64 | Int8, values: Uint16Array | Float64Array | Int8Array, dimensions: number): Data<FixedSizeList> {
  const child = makeData({ type: type as Float64, length: values.length, data: values as Float64Array });
  return makeData({ type: new FixedSizeList(dimensions, new Field('item', type, false)), length: values.length / dimensions, child }) as Data<FixedSizeList>;
}

test('float16, float64 and int8 vectors are converted and searched like float32', async () => {
  const dimensions = 8;
  const rows = 500;
  const integers = new Int8Array(rows * dimensions).map((_, i) => ((i * 37) % 255) - 127);
  const float32 = new Float32Array(integers);
  const halfBits = new Uint16Array(float32.length);
  for (let i = 0; i < float32.length; i++) halfBits[i] = float16Bits(float32[i]); // integers up to 127 are exact in float16
  const query = float32.slice(40 * dimensions, 41 * dimensions);
  const reference = new FlatIndex(dimensions, 'euclidean');
  reference.add(0, float32);
  const expected = reference.search(query, 5);
  for (const [type, values] of [[new Float16(), halfBits], [new Float64(), new Float64Array(float32)], [new Int8(), integers]] as const) {
    const converted = vectorsFromData(listData(type, values, dimensions));
    assert.equal(converted.copied, true);
    const index = track(new DatasetIndex({ dimensions, metric: 'euclidean', m: 8, efConstruction: 32, efSearch: 32, flatOnlyBytesMax: 1024 }));
    index.append(0, converted.vectors, converted.copied);
    assert.ok(index.memoryBytes >= converted.vectors.byteLength, 'converted vectors count as index memory');
    const hits = await index.search(query, 5);
    assert.deepEqual(hits, { ...expected, scores: hits.scores }, `${String(type)}`);
  }
});

/** float16 bits of a small integer (exact). */
function float16Bits(value: number): number {
  if (value === 0) return 0;
  const sign = value < 0 ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  const exponent = Math.floor(Math.log2(magnitude));
  const fraction = Math.round((magnitude / 2 ** exponent - 1) * 1024);
  return sign | ((exponent + 15) << 10) | fraction;
}

/** Event-loop delay (max, p99, in ms) while `work` runs. */
async function loopDelay(work: () => Promise<void>): Promise<{ maxMs: number; p99Ms: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  await work();
  histogram.disable();
  return { maxMs: histogram.max / 1e6, p99Ms: histogram.percentile(99) / 1e6 };
}

/**
 * The same load shape without the index: the main thread busy in 3 ms pieces with a yield
 * between them (as sliced exact scans are), while another thread keeps a core busy (as the
 * indexing worker does). What remains is the machine's own scheduling noise.
 */
const slicedWorkBesideBusyThread = (ms: number) => async () => {
  const busy = new Worker(`const end = Date.now() + ${ms}; while (Date.now() < end) {}`, { eval: true });
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const pieceEnd = performance.now() + 3;
    while (performance.now() < pieceEnd) { /* work */ }
    await new Promise((resolve) => setImmediate(resolve));
  }
  await busy.terminate();
};

test('the event loop stays responsive (< 20 ms) while a large ingest is indexed and searched', async (t) => {
  const dimensions = 64;
  const rows = 200_000;
  const batchRows = 10_000;
  const generated = clusteredDataset({ rows, queries: 20, dimensions, seed: 5 });
  const indexOptions = { dimensions, metric: 'cosine' as const, m: 16, efConstruction: 64, efSearch: 64 };
  // The process's first worker thread costs ~10 ms of one-time setup (the server pays it once,
  // at its first large dataset): paid here before measuring.
  const warmUp = new DatasetIndex({ ...indexOptions, flatOnlyBytesMax: 0 });
  warmUp.append(0, generated.data.subarray(0, dimensions));
  await warmUp.ready();
  await warmUp.close();

  /** One ingest: appends in DoPut-sized batches with a search after each, then searches while indexing. */
  const attempt = async () => {
    const index = track(new DatasetIndex(indexOptions));
    let appendMs = 0;
    let searches = 0;
    const started = performance.now();
    const delay = await loopDelay(async () => {
      for (let start = 0; start < rows; start += batchRows) {
        const before = performance.now();
        index.append(start, generated.data.subarray(start * dimensions, (start + batchRows) * dimensions));
        appendMs = Math.max(appendMs, performance.now() - before);
        // Most rows are still in the exact tail here: it is scanned in slices.
        assert.equal((await index.search(generated.queries.subarray(0, dimensions), K)).ordinals.length, K);
        searches++;
      }
      while (performance.now() - started < 3000) {
        await index.searchMany(generated.queries, K);
        searches++;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    });
    const indexed = index.indexedRows;
    await index.close();
    return { ...delay, appendMs, searches, indexed, seconds: (performance.now() - started) / 1000 };
  };

  // Other processes on these shared cores pause a busy thread now and then, more so while the
  // worker keeps a second core busy. The budget is 20 ms over that noise (measured with the same
  // load shape, see slicedWorkBesideBusyThread), and a run is repeated (up to 3 times) when the
  // noise spikes: the code paths are the same each time, so one run within budget shows the
  // loop is not held longer.
  let verdict = '';
  for (let run = 1; run <= 3; run++) {
    const baseline = await loopDelay(slicedWorkBesideBusyThread(1500));
    const result = await attempt();
    const budgetMs = 20 + baseline.maxMs;
    t.diagnostic(`run ${run}: event loop delay during ingest max ${result.maxMs.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms `
      + `(same load without the index: max ${baseline.maxMs.toFixed(1)} ms); longest append ${result.appendMs.toFixed(1)} ms; `
      + `${result.indexed}/${rows} rows indexed in ${result.seconds.toFixed(1)} s; ${result.searches} searches`);
    assert.ok(result.indexed > 0, 'the worker indexed rows');
    assert.ok(result.appendMs < 20, `append held the event loop for ${result.appendMs.toFixed(1)} ms`);
    if (result.maxMs < budgetMs) return;
    verdict = `event loop held for ${result.maxMs.toFixed(1)} ms (budget ${budgetMs.toFixed(1)} ms)`;
  }
  assert.fail(verdict);
});

describe('graph building takes turns (build slots)', () => {
  test('BuildSlots: one holder at a time, waiters served in order, withdrawn requests skipped', async () => {
    const slots = new BuildSlots(1);
    const granted: string[] = [];
    slots.request(() => granted.push('a'));
    slots.request(() => granted.push('b'));
    const withdraw = slots.request(() => granted.push('c'));
    slots.request(() => granted.push('d'));
    assert.deepEqual(granted, ['a'], 'only the first request is granted at once');
    assert.equal(slots.contended, true);
    withdraw();
    slots.release();
    await Promise.resolve();
    assert.deepEqual(granted, ['a', 'b']);
    slots.release();
    await Promise.resolve();
    assert.deepEqual(granted, ['a', 'b', 'd'], 'the withdrawn request is never granted');
    assert.equal(slots.contended, false);
    slots.release();
    slots.request(() => granted.push('e'));
    assert.deepEqual(granted, ['a', 'b', 'd', 'e'], 'a free slot is granted synchronously');
  });

  test('datasets indexing at once never build concurrently, interleave per feed message, and all finish', async () => {
    const dimensions = 512; // 1,024 rows per 2 MiB feed message: several turns per dataset
    const rows = 3000;
    const { data: vectors } = clusteredDataset({ rows, queries: 1, dimensions, seed: 5 });
    class CountingSlots extends BuildSlots {
      holders = 0;
      maxHolders = 0;
      grants: number[][] = [];
      override request(grant: () => void): () => void {
        return super.request(() => {
          this.holders++;
          this.maxHolders = Math.max(this.maxHolders, this.holders);
          this.grants.push(indexes.map((index) => index.indexedRows));
          grant();
        });
      }
      override release(): void {
        this.holders--;
        super.release();
      }
    }
    const slots = new CountingSlots(1);
    const indexes = [0, 1, 2].map(() => track(new DatasetIndex({
      dimensions, metric: 'euclidean', m: 8, efConstruction: 32, efSearch: 32, flatOnlyBytesMax: 0, insertThreads: 1, buildSlots: slots,
    })));
    for (const index of indexes) index.append(0, vectors);
    for (const index of indexes) await untilIndexed(index, 60_000);
    assert.equal(slots.maxHolders, 1, 'two graphs were built at the same time');
    assert.equal(slots.holders, 0, 'a slot is still held after every build finished');
    const interleaved = slots.grants.some((seen) => seen.filter((indexed) => indexed > 0 && indexed < rows).length >= 2);
    assert.ok(interleaved, `builds ran one after another, not in turns: ${JSON.stringify(slots.grants)}`);
    const hit = await indexes[2].search(vectors.slice(0, dimensions), 1);
    assert.equal(hit.ordinals[0], 0);
  });

  test('closing an index that waits for its turn or holds it lets the others build', async () => {
    const slots = new BuildSlots(1);
    const make = () => track(new DatasetIndex(options('euclidean', { buildSlots: slots })));
    const first = make();
    const second = make();
    const third = make();
    appendAll(first);
    appendAll(second);
    appendAll(third);
    await first.ready();
    await first.close(); // held or waiting, either way it must let go
    await second.close();
    await untilIndexed(third);
    assert.equal(third.state, 'ready');
  });
});
