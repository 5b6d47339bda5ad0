/**
 * One suite for every VectorIndex implementation: the exact flat index and the usearch HNSW
 * index (float32, bf16 and i8 graph storage). Recall@10 is measured against exact search on seeded
 * clustered data (a low-rank Gaussian mixture), for every metric, with and without filters
 * and removed rows. Budget: recall@10 >= 0.95 (the flat index must be exact), and for the raw
 * i8 graph, whose int8 distances tie and swap close neighbours, I8_RECALL_BUDGET (the server
 * re-scores its candidates exactly: index-dataset.test.ts holds it to 0.95).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FlatIndex } from '../src/index/flat-index.ts';
import { HnswIndex } from '../src/index/hnsw-index.ts';
import { int8ScaleFromRows, largestMagnitude, quantizeInt8, type HnswStorage } from '../src/index/hnsw-storage.ts';
import { USEARCH_VERSION, createNativeIndex, loadUsearchAddon, type NativeMetric, type NativeScalar } from '../src/index/usearch-native.ts';
import { METRICS, distanceFromKey, type Metric } from '../src/index/metric.ts';
import type { IndexSearchOptions, SearchHits, VectorIndex } from '../src/index/vector-index.ts';
import { clusteredDataset, recallAt } from './vectors.ts';

const DIMENSIONS = 32;
const ROWS = 4000;
const QUERIES = 100;
const K = 10;
const RECALL_BUDGET = 0.95;
const I8_RECALL_BUDGET = 0.9;

const { data, queries } = clusteredDataset({ rows: ROWS, queries: QUERIES, dimensions: DIMENSIONS, seed: 2024 });
const queryAt = (q: number) => queries.subarray(q * DIMENSIONS, (q + 1) * DIMENSIONS);

/** Exact results in float64, the reference for everything. */
function bruteForce(metric: Metric, query: Float32Array, k: number, allowed: (ordinal: number) => boolean = () => true): SearchHits {
  const scored: { key: number; ordinal: number }[] = [];
  let qq = 0;
  for (const value of query) qq += value * value;
  for (let row = 0; row < ROWS; row++) {
    if (!allowed(row)) continue;
    let squared = 0;
    let dot = 0;
    let xx = 0;
    for (let i = 0; i < DIMENSIONS; i++) {
      const x = data[row * DIMENSIONS + i];
      squared += (x - query[i]) ** 2;
      dot += x * query[i];
      xx += x * x;
    }
    const key = metric === 'euclidean' ? squared : metric === 'dot_product' ? -dot : 1 - dot / Math.sqrt(qq * xx);
    scored.push({ key, ordinal: row });
  }
  scored.sort((a, b) => a.key - b.key || a.ordinal - b.ordinal);
  const best = scored.slice(0, k);
  return { ordinals: best.map((item) => item.ordinal), distances: best.map((item) => distanceFromKey(metric, item.key)) };
}

interface Implementation {
  name: string;
  exact: boolean;
  /** Relative tolerance of reported distances against float64 (graph storage precision). */
  distanceTolerance: number;
  /** Least recall@10 (the flat index: 1). */
  recallBudget: number;
  build(metric: Metric): VectorIndex;
}

function hnsw(storage: HnswStorage, distanceTolerance: number, recallBudget = RECALL_BUDGET): Implementation {
  return {
    name: `hnsw (${storage})`, exact: false, distanceTolerance, recallBudget,
    build(metric) {
      const scale = storage === 'i8' ? 127 / largestMagnitude(data.subarray(0, 1500 * DIMENSIONS)) : undefined;
      const index = new HnswIndex({ dimensions: DIMENSIONS, metric, m: 16, efConstruction: 64, efSearch: 64, storage, insertThreads: 2, scale });
      index.add(0, data.subarray(0, 1500 * DIMENSIONS));
      index.add(1500, data.subarray(1500 * DIMENSIONS));
      return index;
    },
  };
}

const IMPLEMENTATIONS: Implementation[] = [
  {
    name: 'flat', exact: true, distanceTolerance: 1e-5, recallBudget: 1,
    build(metric) {
      const index = new FlatIndex(DIMENSIONS, metric);
      index.add(0, data.subarray(0, 1000 * DIMENSIONS)); // several chunks, as Arrow batches would be
      index.add(1000, data.subarray(1000 * DIMENSIONS, 2500 * DIMENSIONS));
      index.add(2500, data.subarray(2500 * DIMENSIONS));
      return index;
    },
  },
  hnsw('f32', 1e-4),
  hnsw('bf16', 3e-2),
  hnsw('i8', 6e-2, I8_RECALL_BUDGET),
];

function meanRecall(index: VectorIndex, metric: Metric, options: IndexSearchOptions, allowed?: (ordinal: number) => boolean): number {
  let total = 0;
  for (let q = 0; q < QUERIES; q++) {
    const got = index.search(queryAt(q), K, options);
    total += recallAt(got.ordinals, bruteForce(metric, queryAt(q), K, allowed).ordinals);
  }
  return total / QUERIES;
}

for (const implementation of IMPLEMENTATIONS) {
  describe(`VectorIndex: ${implementation.name}`, () => {
    for (const metric of METRICS) {
      const index = implementation.build(metric);
      const budget = implementation.recallBudget;

      test(`${metric}: recall@${K} >= ${budget}, distances as the metric defines them`, () => {
        assert.equal(index.size, ROWS);
        const recall = meanRecall(index, metric, {});
        assert.ok(recall >= budget, `recall@${K} ${recall.toFixed(3)} < ${budget}`);
        for (let q = 0; q < QUERIES; q += 7) {
          const got = index.search(queryAt(q), K);
          const expected = bruteForce(metric, queryAt(q), ROWS);
          const byOrdinal = new Map(expected.ordinals.map((ordinal, i) => [ordinal, expected.distances[i]]));
          got.ordinals.forEach((ordinal, i) => {
            const want = byOrdinal.get(ordinal)!;
            const scale = Math.max(1, Math.abs(want));
            assert.ok(Math.abs(got.distances[i] - want) <= implementation.distanceTolerance * scale, `q${q} #${i}: ${got.distances[i]} vs ${want}`);
          });
          for (let i = 1; i < got.distances.length; i++) assert.ok(got.distances[i - 1] <= got.distances[i], 'best first');
          if (implementation.exact) assert.deepEqual(got.ordinals, expected.ordinals.slice(0, K));
        }
      });

      test(`${metric}: filtered search (a third of the rows) keeps recall`, () => {
        const allowed = (ordinal: number) => ordinal % 3 === 1;
        const recall = meanRecall(index, metric, { filter: allowed }, allowed);
        assert.ok(recall >= budget, `filtered recall@${K} ${recall.toFixed(3)} < ${budget}`);
        for (let q = 0; q < 10; q++) assert.ok(index.search(queryAt(q), K, { filter: allowed }).ordinals.every(allowed));
      });

      test(`${metric}: a narrow filter (1% of the rows) still finds k matches`, () => {
        const allowed = (ordinal: number) => ordinal % 100 === 42;
        const got = index.search(queryAt(3), K, { filter: allowed });
        assert.equal(got.ordinals.length, K);
        assert.ok(got.ordinals.every(allowed));
        assert.ok(recallAt(got.ordinals, bruteForce(metric, queryAt(3), K, allowed).ordinals) >= (implementation.exact ? 1 : 0.8));
      });

      test(`${metric}: batched search returns what single searches return`, () => {
        const batch = index.searchBatch(queries.subarray(0, 20 * DIMENSIONS), K);
        assert.equal(batch.length, 20);
        for (let q = 0; q < 20; q++) assert.deepEqual(batch[q].ordinals, index.search(queryAt(q), K).ordinals);
      });
    }

    test('removed rows never match; the rest keep recall', () => {
      const index = implementation.build('euclidean');
      const nearest = index.search(queryAt(0), K).ordinals;
      const removed = new Set([...nearest.slice(0, 5), ...Array.from({ length: 400 }, (_, i) => i * 10)]);
      for (const ordinal of removed) index.remove(ordinal);
      const allowed = (ordinal: number) => !removed.has(ordinal);
      for (let q = 0; q < 20; q++) assert.ok(index.search(queryAt(q), K).ordinals.every(allowed));
      const recall = meanRecall(index, 'euclidean', {}, allowed);
      assert.ok(recall >= implementation.recallBudget, `recall after removals ${recall.toFixed(3)}`);
    });

    test('k larger than the index returns every row; NaN rows never match', () => {
      const index = implementation.name === 'flat'
        ? new FlatIndex(4, 'euclidean')
        : new HnswIndex({ dimensions: 4, metric: 'euclidean', m: 8, efConstruction: 32, efSearch: 16 });
      index.add(0, new Float32Array([0, 0, 0, 0, 1, 1, 1, 1, Number.NaN, 0, 0, 0, 2, 2, 2, 2]));
      const got = index.search(new Float32Array([0, 0, 0, 0]), 50);
      assert.deepEqual(got.ordinals, [0, 1, 3]);
      assert.deepEqual(got.distances, [0, 2, 4]);
    });
  });
}

describe('HnswIndex: i8 storage', () => {
  test('largestMagnitude: the largest finite |value|, 0 when there is none but zero', () => {
    assert.equal(largestMagnitude(new Float32Array([0.5, -2, 1, Number.NaN, Number.NEGATIVE_INFINITY])), 2);
    assert.equal(largestMagnitude(new Float32Array([1]), new Float32Array([-4, 2])), 4);
    assert.equal(largestMagnitude(new Float32Array([0, Number.NaN, 0])), 0);
    assert.equal(largestMagnitude(new Float32Array(0)), 0);
  });

  test('int8ScaleFromRows takes the 99.9th percentile of the rows\' largest magnitudes', () => {
    const rows = Array.from({ length: 1000 }, (_, i) => 1 + i / 1000); // 1 .. 1.999
    assert.equal(int8ScaleFromRows(rows), 127 / rows[998]);
    rows[500] = 1e6; // one outlier in a thousand does not set the scale
    assert.equal(int8ScaleFromRows(rows), 127 / rows[999]);
    assert.equal(int8ScaleFromRows([2]), 127 / 2);
    assert.equal(int8ScaleFromRows([]), undefined);
  });

  test('quantizeInt8 rounds and clips to +-127, or scales each row by its largest |value| when there is no scale', () => {
    assert.deepEqual([...quantizeInt8(new Float32Array([1, -1, 0.004, 0.006, 3, -3]), 3, 100)], [100, -100, 0, 1, 127, -127]);
    const rowScales = new Float64Array(2);
    assert.deepEqual([...quantizeInt8(new Float32Array([3, -4, 1, 0, 0, 0]), 3, null, rowScales)], [95, -127, 32, 0, 0, 0]);
    assert.deepEqual([...rowScales], [127 / 4, 0]);
  });

  test('euclidean and dot_product need a positive scale; cosine does not', () => {
    const base = { dimensions: 4, m: 8, efConstruction: 32, efSearch: 16, storage: 'i8' } as const;
    assert.throws(() => new HnswIndex({ ...base, metric: 'euclidean' }), /i8 storage needs a positive finite scale for euclidean/);
    assert.throws(() => new HnswIndex({ ...base, metric: 'dot_product', scale: 0 }), /scale for dot_product, got 0/);
    assert.throws(() => new HnswIndex({ ...base, metric: 'euclidean', scale: Number.NaN }), /scale/);
    assert.doesNotThrow(() => new HnswIndex({ ...base, metric: 'cosine' }));
  });

  test('distances come back in the vectors\' units', () => {
    const scale = 127 / largestMagnitude(data);
    const i8 = new HnswIndex({ dimensions: DIMENSIONS, metric: 'euclidean', m: 16, efConstruction: 64, efSearch: 64, storage: 'i8', scale });
    i8.add(0, data);
    // A row searched for itself is at distance ~0, its neighbours at their true distances (to
    // the int8 step): scale-free distances would be ~scale x larger.
    const got = i8.search(data.subarray(7 * DIMENSIONS, 8 * DIMENSIONS), 3);
    assert.equal(got.ordinals[0], 7);
    const expected = bruteForce('euclidean', data.subarray(7 * DIMENSIONS, 8 * DIMENSIONS), ROWS);
    const truth = new Map(expected.ordinals.map((ordinal, i) => [ordinal, expected.distances[i]]));
    for (let i = 1; i < 3; i++) assert.ok(Math.abs(got.distances[i] - truth.get(got.ordinals[i])!) < 0.05 * truth.get(got.ordinals[i])!);
  });
});

test('HnswIndex i8, dot_product: a query is ranked the same whatever its magnitude (each query has its own scale)', () => {
  const index = new HnswIndex({ dimensions: DIMENSIONS, metric: 'dot_product', m: 16, efConstruction: 64, efSearch: 64, storage: 'i8', scale: 127 / largestMagnitude(data) });
  index.add(0, data);
  let recall = 0;
  for (let q = 0; q < 20; q++) {
    const truth = bruteForce('dot_product', queryAt(q), K);
    const base = index.search(queryAt(q), K);
    recall += recallAt(base.ordinals, truth.ordinals) / 20;
    for (const factor of [0.002, 20]) {
      const scaled = queryAt(q).map((value) => value * factor);
      const got = index.search(scaled, K);
      assert.deepEqual(got.ordinals, base.ordinals, `query x ${factor}`);
      // 1 - a.(f q) = 1 - f (1 - distance): the distances scale with the query too.
      got.distances.forEach((distance, i) => assert.ok(Math.abs((1 - distance) - factor * (1 - base.distances[i])) <= 1e-3 * Math.max(1, Math.abs(factor * (1 - base.distances[i])))));
    }
  }
  assert.ok(recall >= I8_RECALL_BUDGET, `recall ${recall}`);
  const zero = index.search(new Float32Array(DIMENSIONS), K);
  assert.equal(zero.ordinals.length, K);
  assert.ok(zero.distances.every((distance) => distance === 1), 'a zero query: every dot product is 0');
});

describe('HnswIndex: batch searches on several threads', () => {
  test('an index inserting on one thread can search a batch on two (search contexts kept)', () => {
    // usearch sizes its per-thread search contexts when an add grows the capacity, to that add's
    // threads; with one insert thread a two-thread batch search failed ("Reserve capacity ahead
    // of searches!"). Small adds cross several capacity growths here.
    const index = new HnswIndex({ dimensions: DIMENSIONS, metric: 'euclidean', m: 16, efConstruction: 64, efSearch: 64, insertThreads: 1, searchThreads: 2 });
    for (let row = 0; row < ROWS; row += 100) index.add(row, data.subarray(row * DIMENSIONS, (row + 100) * DIMENSIONS));
    const batch = queries.subarray(0, QUERIES * DIMENSIONS);
    const twoThreads = index.candidates(batch, K, 64, 2);
    const oneThread = index.candidates(batch, K, 64, 1);
    assert.deepEqual([...twoThreads.counts], [...oneThread.counts]);
    assert.deepEqual([...twoThreads.ordinals], [...oneThread.ordinals]);
    assert.ok(twoThreads.counts.every((count) => count === K));
  });
});

describe('usearch addon, called directly', () => {
  test('arguments it would take without checks are refused first (a bad name would abort the process)', () => {
    const base = { dimensions: 8, metric: 'l2sq', scalar: 'f32', connectivity: 16, expansionAdd: 64, expansionSearch: 1 } as const;
    assert.throws(() => createNativeIndex({ ...base, dimensions: 0 }), /dimensions must be a positive integer, got 0/);
    assert.throws(() => createNativeIndex({ ...base, connectivity: 2.5 }), /connectivity must be a non-negative integer, got 2.5/);
    assert.throws(() => createNativeIndex({ ...base, expansionAdd: -1 }), /expansionAdd .* got -1/);
    assert.throws(() => createNativeIndex({ ...base, metric: 'euclidean' as NativeMetric }), /metric must be one of l2sq, ip, cos, got euclidean/);
    assert.throws(() => createNativeIndex({ ...base, scalar: 'f64' as NativeScalar }), /scalar must be one of f32, bf16, f16, i8, got f64/);
    assert.equal(createNativeIndex(base).dimensions(), 8);
  });

  test('the version checked at load is the one package.json pins; another version is refused', () => {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    assert.equal(manifest.dependencies.usearch, USEARCH_VERSION);
    assert.equal(typeof loadUsearchAddon(), 'function');
    const dir = mkdtempSync(join(tmpdir(), 'usearch-other-'));
    try {
      const root = join(dir, 'node_modules', 'usearch');
      mkdirSync(join(root, 'javascript', 'dist', 'cjs'), { recursive: true });
      writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'usearch', version: '9.9.9', main: 'javascript/dist/cjs/usearch.js' }));
      writeFileSync(join(root, 'javascript', 'dist', 'cjs', 'usearch.js'), '');
      assert.throws(() => loadUsearchAddon(join(dir, 'probe.js')), /usearch 9\.9\.9 at .*: another version; .* needs usearch 2\.25\.3/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('HnswIndex refuses what the addon would misread: a partial query, a bad thread count', () => {
    const index = new HnswIndex({ dimensions: DIMENSIONS, metric: 'euclidean', m: 8, efConstruction: 32, efSearch: 16 });
    index.add(0, data.subarray(0, 50 * DIMENSIONS));
    assert.throws(() => index.candidates(queries.subarray(0, DIMENSIONS + 3), K, 16), /not a multiple of 32/);
    assert.throws(() => index.candidates(queryAt(0), K, 16, -1), /threads must be an integer >= 0, got -1/);
    assert.throws(() => index.candidates(queryAt(0), K, 0.5), /ef must be an integer >= 1/);
    assert.equal(index.candidates(queryAt(0), K, 16).counts[0], K);
  });

  test("query q's results start at q x wanted, and a short result says how many it holds", () => {
    const index = createNativeIndex({ dimensions: 2, metric: 'l2sq', scalar: 'f32', connectivity: 8, expansionAdd: 16, expansionSearch: 1 });
    index.add(BigUint64Array.of(10n, 11n, 12n), Float32Array.of(0, 0, 1, 0, 5, 0), 1);
    const [keys, distances, counts] = index.search(Float32Array.of(0.9, 0, 5, 0), 4, 1);
    assert.deepEqual([...counts], [3n, 3n]);
    assert.deepEqual([...keys.subarray(0, 3)], [11n, 10n, 12n]);
    assert.deepEqual([...keys.subarray(4, 7)], [12n, 11n, 10n]);
    assert.ok(Math.abs(distances[0] - 0.01) < 1e-6);
    assert.equal(distances[4], 0);
  });
});
