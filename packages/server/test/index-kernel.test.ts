/**
 * The pieces under the vector indexes: the SIMD distance kernels against a float64 reference
 * (every dimension remainder, every metric, cosine's zero rules), the top-k heap, metric
 * parsing and formulas, and vector conversion from every Arrow element type.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Field, FixedSizeList, Float16, Float32, Float64, Int8, Uint8, makeData, type Data, type DataType,
} from 'apache-arrow';
import { DistanceKernel } from '../src/index/distance-kernel.ts';
import {
  distanceFromKey, keyFromDistance, metricFromMetadata, metricSpec, parseMetric, scoreFromDistance, scoreFromKey,
  UnknownMetricError, METRICS, type Metric,
} from '../src/index/metric.ts';
import { OrdinalSet } from '../src/index/ordinal-set.ts';
import { TopK } from '../src/index/top-k.ts';
import { VectorChunks } from '../src/index/vector-chunks.ts';
import { vectorsFromData } from '../src/index/vector-conversion.ts';
import { seededRandom } from '../src/wal/faulty-file-layer.ts';

/** Rank key of one pair in float64 (see metric.ts). */
function referenceKey(metric: Metric, a: ArrayLike<number>, b: ArrayLike<number>): number {
  let squared = 0;
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    squared += (a[i] - b[i]) ** 2;
    dot += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  if (metric === 'euclidean') return squared;
  if (metric === 'dot_product') return -dot;
  if (aa === 0 && bb === 0) return 0;
  if (aa === 0 || bb === 0) return 1;
  return 1 - dot / Math.sqrt(aa * bb);
}

function randomVectors(random: () => number, count: number): Float32Array {
  return new Float32Array(count).map(() => random() * 2 - 1);
}

function kernelKeys(metric: Metric, dimensions: number, queries: Float32Array, vectors: Float32Array, from: number, to: number): Float32Array[] {
  const kernel = new DistanceKernel(metricSpec(metric).kernel, dimensions);
  const count = queries.length / dimensions;
  const out = Array.from({ length: count }, () => new Float32Array(to - from).fill(Number.NaN));
  kernel.scan(queries, vectors, from, to, (query, keys, firstRow, rows) => {
    for (let i = 0; i < rows; i++) out[query][firstRow - from + i] = keys[i];
  });
  return out;
}

test('kernels match a float64 reference for every dimension remainder and metric', () => {
  const random = seededRandom(11);
  for (const dimensions of [1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 33, 64, 128, 131, 768]) {
    const rows = 300;
    const vectors = randomVectors(random, rows * dimensions);
    const queries = randomVectors(random, 3 * dimensions);
    for (const metric of METRICS) {
      const keys = kernelKeys(metric, dimensions, queries, vectors, 7, rows);
      for (let q = 0; q < 3; q++) {
        for (let row = 7; row < rows; row++) {
          const expected = referenceKey(metric, queries.subarray(q * dimensions, (q + 1) * dimensions), vectors.subarray(row * dimensions, (row + 1) * dimensions));
          const got = keys[q][row - 7];
          const tolerance = 1e-5 * Math.max(1, Math.abs(expected)) * Math.sqrt(dimensions);
          assert.ok(Math.abs(got - expected) <= tolerance, `${metric} d=${dimensions} q=${q} row=${row}: ${got} vs ${expected}`);
        }
      }
    }
  }
});

test('kernels cover blocks: many rows, a range in the middle, a picked set', () => {
  const random = seededRandom(12);
  const dimensions = 24;
  const rows = 10_000; // several 256 KiB blocks
  const vectors = randomVectors(random, rows * dimensions);
  const query = randomVectors(random, dimensions);
  const keys = kernelKeys('euclidean', dimensions, query, vectors, 1234, 9876)[0];
  for (let row = 1234; row < 9876; row += 97) {
    const expected = referenceKey('euclidean', query, vectors.subarray(row * dimensions, (row + 1) * dimensions));
    assert.ok(Math.abs(keys[row - 1234] - expected) < 1e-4);
  }
  assert.ok(keys.every((key) => Number.isFinite(key)), 'every row of the range is scored');
  const kernel = new DistanceKernel('l2sq', dimensions);
  const picked = [5, 9999, 0, 4321];
  const got: number[] = [];
  kernel.scanPicked(query, picked.length, (i) => vectors.subarray(picked[i] * dimensions, (picked[i] + 1) * dimensions), (_, block, first, count) => {
    for (let i = 0; i < count; i++) got[first + i] = block[i];
  });
  picked.forEach((row, i) => {
    assert.ok(Math.abs(got[i] - referenceKey('euclidean', query, vectors.subarray(row * dimensions, (row + 1) * dimensions))) < 1e-4);
  });
});

test('cosine with zero vectors: both zero is distance 0, one zero is distance 1', () => {
  const dimensions = 4;
  const vectors = new Float32Array([0, 0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0]);
  const [fromZero] = kernelKeys('cosine', dimensions, new Float32Array(4), vectors, 0, 3);
  assert.deepEqual([...fromZero], [0, 1, 1]);
  const [fromAxis] = kernelKeys('cosine', dimensions, new Float32Array([3, 0, 0, 0]), vectors, 0, 3);
  assert.deepEqual([...fromAxis], [1, 0, 1]);
});

test('NaN and infinite vectors get NaN or infinite keys (they never enter a top-k)', () => {
  const dimensions = 3;
  const vectors = new Float32Array([Number.NaN, 0, 0, Number.POSITIVE_INFINITY, 0, 0, 1, 1, 1]);
  const [keys] = kernelKeys('euclidean', dimensions, new Float32Array([1, 1, 1]), vectors, 0, 3);
  const top = new TopK(3);
  top.pushBlock(keys, 3, 0);
  assert.deepEqual(top.sorted().ordinals, [2]);
});

test('TopK keeps the k lowest keys, ties by lower ordinal, in any push order', () => {
  const random = seededRandom(5);
  for (let round = 0; round < 50; round++) {
    const k = 1 + Math.floor(random() * 20);
    const items = Array.from({ length: 200 }, (_, ordinal) => ({ key: Math.floor(random() * 30), ordinal }));
    const top = new TopK(k);
    for (const item of [...items].sort(() => random() - 0.5)) top.push(item.key, item.ordinal);
    const expected = [...items].sort((a, b) => a.key - b.key || a.ordinal - b.ordinal).slice(0, k);
    const got = top.sorted();
    assert.deepEqual(got.ordinals, expected.map((item) => item.ordinal));
    assert.deepEqual(got.keys, expected.map((item) => item.key));
  }
  assert.throws(() => new TopK(0), RangeError);
});

test('metric: parsing, formulas, higher score is closer', () => {
  assert.equal(parseMetric(undefined), 'euclidean');
  assert.equal(metricFromMetadata(new Map([['longbow.metric', 'cosine']])), 'cosine');
  assert.equal(metricFromMetadata(new Map()), 'euclidean');
  assert.throws(() => parseMetric('manhattan'), UnknownMetricError);
  assert.equal(distanceFromKey('euclidean', 9), 3);
  assert.equal(scoreFromKey('euclidean', 9), 0.25);
  assert.equal(distanceFromKey('dot_product', -2.5), -1.5); // 1 - a.b
  assert.equal(scoreFromKey('dot_product', -2.5), 2.5);
  assert.equal(scoreFromKey('cosine', 0.25), 0.75);
  for (const metric of METRICS) {
    for (const distance of [0, 0.5, 2]) {
      assert.ok(Math.abs(distanceFromKey(metric, keyFromDistance(metric, distance)) - distance) < 1e-12);
    }
    assert.ok(scoreFromDistance(metric, 0.1) > scoreFromDistance(metric, 0.2), `${metric}: closer scores higher`);
  }
});

test('OrdinalSet and VectorChunks', () => {
  const set = new OrdinalSet();
  assert.equal(set.add(5), true);
  assert.equal(set.add(5), false);
  assert.equal(set.add(100_000), true);
  assert.ok(set.has(5) && set.has(100_000) && !set.has(6) && !set.has(1e9));
  assert.equal(set.size, 2);
  const chunks = new VectorChunks(2);
  chunks.append(0, new Float32Array([0, 0, 1, 1]));
  chunks.append(2, new Float32Array([2, 2]));
  chunks.append(3, new Float32Array([3, 3, 4, 4, 5, 5]));
  assert.equal(chunks.rows, 6);
  assert.deepEqual([...chunks.row(4)], [4, 4]);
  assert.deepEqual([...chunks.copyRows(1, 5)], [1, 1, 2, 2, 3, 3, 4, 4]);
  assert.throws(() => chunks.append(7, new Float32Array(2)), /in order/);
});

function listData(elementType: DataType, dimensions: number, values: ArrayLike<number>, nullBitmap?: Uint8Array): Data<FixedSizeList> {
  const rows = values.length / dimensions;
  const child = makeData({ type: elementType as Float32, length: values.length, data: values as Float32Array });
  const type = new FixedSizeList(dimensions, new Field('item', elementType, false));
  return makeData({ type, length: rows, child, nullBitmap, nullCount: nullBitmap ? -1 : 0 }) as Data<FixedSizeList>;
}

test('vector conversion: float32 is a view; float16, float64, int8, uint8 are converted; null rows are NaN', () => {
  const float32 = new Float32Array([1, 2, 3, 4, 5, 6]);
  const view = vectorsFromData(listData(new Float32(), 2, float32));
  assert.equal(view.copied, false);
  assert.equal(view.vectors.buffer, float32.buffer);
  const sliced = vectorsFromData(listData(new Float32(), 2, float32).slice(1, 2) as Data<FixedSizeList>);
  assert.deepEqual([...sliced.vectors], [3, 4, 5, 6]);

  // float16 bit patterns: 1.0, -2.0, 0.5, 65504 (largest), smallest subnormal, +infinity
  const half = new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00]);
  assert.deepEqual([...vectorsFromData(listData(new Float16(), 3, half)).vectors], [1, -2, 0.5, 65504, 2 ** -24, Infinity]);
  assert.deepEqual([...vectorsFromData(listData(new Float64(), 2, new Float64Array([0.5, -1.25, 3, 1e10]))).vectors], [0.5, -1.25, 3, 1e10]);
  assert.deepEqual([...vectorsFromData(listData(new Int8(), 2, new Int8Array([-128, 127, 0, 5]))).vectors], [-128, 127, 0, 5]);
  const unsigned = vectorsFromData(listData(new Uint8(), 2, new Uint8Array([0, 255, 7, 9])));
  assert.deepEqual([...unsigned.vectors], [0, 255, 7, 9]);
  assert.equal(unsigned.copied, true);

  const withNull = vectorsFromData(listData(new Float32(), 2, float32, new Uint8Array([0b101])));
  assert.equal(withNull.copied, true);
  assert.deepEqual([...withNull.vectors].map((value) => (Number.isNaN(value) ? 'NaN' : value)), [1, 2, 'NaN', 'NaN', 5, 6]);
  assert.deepEqual([...float32], [1, 2, 3, 4, 5, 6], 'the Arrow buffer is untouched');
});
