/** Building record batches from plain values (no server): inference, conversion, errors, splitting, JSON. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Field, Float16, Int32, Schema, TimeUnit, Timestamp, Uint64, Utf8 } from 'apache-arrow';
import {
  batchBytes, batchFromColumns, batchFromRows, inferType, parseFilterExpression, splitBatch, toJson,
} from '../src/index.ts';
import { makeBatch } from './helpers.ts';

function types(schema: Schema): string[] {
  return schema.fields.map((field) => `${field.name}:${field.type}`);
}

test('inference: integers, fractions, bigints, booleans, strings, dates, vectors, mixes', () => {
  const cases: [string, unknown[], string][] = [
    ['n', [1, 2, null], 'Int64'],
    ['x', [1, 2.5], 'Float64'],
    ['big', [1n, 2], 'Int64'],
    ['ok', [true, null, false], 'Bool'],
    ['s', ['a', undefined], 'Utf8'],
    ['at', [new Date(0)], 'Timestamp<MILLISECOND, UTC>'],
    ['vector', [[1, 2], new Float32Array([3, 4])], 'FixedSizeList[2]<Float32>'],
    ['pair', [[1, 2]], 'FixedSizeList[2]<Float32>'],
    ['mixed', [1, 'a'], 'Utf8'],
    ['ragged', [[1], [1, 2]], 'Utf8'],
    ['nothing', [null, null], 'Utf8'],
  ];
  for (const [name, values, expected] of cases) assert.equal(String(inferType(name, values)), expected, name);
  assert.throws(() => inferType('embedding', [[1], [1, 2]]), /cannot make a vector column, its arrays differ in length/);
  assert.throws(() => inferType('vector', [null]), /it has no values/);
});

test('rows: key order, nulls for missing keys, every field nullable, objects as JSON text', () => {
  const batch = batchFromRows([{ id: 1, meta: { a: 1 } }, { id: 2, extra: 'x' }], { metric: 'dot_product' });
  assert.deepEqual(types(batch.schema), ['id:Int64', 'meta:Utf8', 'extra:Utf8']);
  assert.ok(batch.schema.fields.every((field) => field.nullable));
  assert.equal(batch.schema.metadata.get('longbow.metric'), 'dot_product');
  assert.equal(batch.getChild('meta')!.get(0), '{"a":1}');
  assert.equal(batch.getChild('meta')!.get(1), null);
  assert.equal(batch.getChild('extra')!.get(0), null);
});

test('rows typed to a given schema: conversions that lose nothing, errors for the rest', () => {
  const schema = new Schema([
    new Field('id', new Uint64(), false), new Field('n', new Int32(), true), new Field('half', new Float16(), true),
    new Field('at', new Timestamp(TimeUnit.MICROSECOND, 'UTC'), true), new Field('name', new Utf8(), true),
  ]);
  const batch = batchFromRows([
    { id: '18446744073709551615', n: 7, half: 0.5, at: '2024-01-01T00:00:00Z', name: 12 },
    { id: 1n, n: null, half: 2, at: 1_000_000, extra: true },
  ], { schema });
  assert.deepEqual(types(batch.schema), ['id:Uint64', 'n:Int32', 'half:Float16', 'at:Timestamp<MICROSECOND, UTC>', 'name:Utf8', 'extra:Bool']);
  assert.equal(batch.getChild('id')!.get(0), 18446744073709551615n);
  assert.equal(batch.getChild('n')!.get(1), null);
  assert.equal(batch.getChild('half')!.get(0), 0.5);
  assert.equal(batch.getChild('at')!.get(0), Date.UTC(2024, 0, 1));
  assert.equal(batch.getChild('name')!.get(0), '12');
  assert.throws(() => batchFromRows([{ id: 1, n: 1.5 }], { schema }), /column "n", row 0: 1.5 is not an integer/);
  assert.throws(() => batchFromRows([{ id: -1 }], { schema }), /column "id", row 0: -1 is not a uint64/);
  assert.throws(() => batchFromRows([{ n: 1 }], { schema }), /column "id" is required/);
  assert.throws(() => batchFromRows([{ id: 1, at: 'yesterday' }], { schema }), /"yesterday" is not a date, an ISO-8601 time or an integer/);
});

test('columns: typed arrays are used as they are; explicit types; lengths must agree', () => {
  const ids = BigInt64Array.from([1n, 2n]);
  const batch = batchFromColumns({ id: ids, score: Float64Array.from([0.5, 1]), tag: ['a', null] }, { types: { tag: 'utf8', score: 'float32' } });
  assert.deepEqual(types(batch.schema), ['id:Int64', 'score:Float32', 'tag:Utf8']);
  assert.equal(batch.getChild('id')!.data[0].values, ids);
  assert.throws(() => batchFromColumns({ a: [1, 2], b: [1] }), /columns differ in length: a=2, b=1/);
});

test('splitBatch: slices of about the bound, in order, covering every row', () => {
  const batch = makeBatch(1000, 32);
  const bytes = batchBytes(batch);
  assert.ok(bytes > 128_000);
  const slices = [...splitBatch(batch, 32 * 1024)];
  assert.ok(slices.length >= Math.floor(bytes / (32 * 1024)));
  assert.equal(slices.reduce((sum, slice) => sum + slice.numRows, 0), 1000);
  assert.ok(slices.every((slice) => batchBytes(slice) <= 40 * 1024), 'each slice near the bound');
  assert.equal(slices[1].getChild('id')!.get(0), BigInt(slices[0].numRows));
  assert.deepEqual([...splitBatch(batch, bytes)], [batch]);
});

test('toJson writes bigints as exact integers', () => {
  assert.equal(toJson({ ids: [1n, 2n ** 63n - 1n, -5n], s: 'bigint:1' }), '{"ids":[1,9223372036854775807,-5],"s":"bigint:1"}');
});

test('filter expressions of the CLI', () => {
  assert.deepEqual(parseFilterExpression('price>=10'), { field: 'price', op: '>=', value: 10 });
  assert.deepEqual(parseFilterExpression('label = books'), { field: 'label', op: '=', value: 'books' });
  assert.deepEqual(parseFilterExpression('label="42"'), { field: 'label', op: '=', value: '42' });
  assert.deepEqual(parseFilterExpression('id!=9007199254740993'), { field: 'id', op: '!=', value: 9007199254740993n });
  assert.deepEqual(parseFilterExpression('ok=true'), { field: 'ok', op: '=', value: true });
  assert.deepEqual(parseFilterExpression('name contains a b'), { field: 'name', op: 'contains', value: 'a b' });
  assert.deepEqual(parseFilterExpression('expr=a>=b'), { field: 'expr', op: '=', value: 'a>=b' });
  assert.throws(() => parseFilterExpression('price'), /cannot read filter/);
});
