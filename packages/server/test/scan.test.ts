import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Bool, Dictionary, Field, Float64, Int32, Int64, RecordBatch, Schema, Struct, TimestampNanosecond, Utf8,
  Vector, makeData, vectorFromArray, type Data,
} from 'apache-arrow';
import { Dataset } from '../src/store/dataset.ts';
import { parseFilters } from '../src/store/filters.ts';
import { gatherBatch, gatherFromMany } from '../src/store/gather.ts';
import { planScan } from '../src/store/scan.ts';
import { makeBatch } from './helpers.ts';

function mixedBatch(): RecordBatch {
  const n = 10;
  const fields = [
    new Field('id', new Int64(), false), new Field('price', new Float64(), true), new Field('name', new Utf8(), true),
    new Field('ts', new TimestampNanosecond(), false), new Field('flag', new Bool(), true),
    new Field('tag', new Dictionary(new Utf8(), new Int32()), true),
  ];
  const tagDictionary = vectorFromArray(['red', 'green', 'blue'], new Utf8());
  const tagIndices = new Int32Array(n).map((_, i) => i % 3);
  const children: Data[] = [
    makeData({ type: new Int64(), length: n, data: new BigInt64Array(n).map((_, i) => BigInt(i)) }),
    vectorFromArray(Array.from({ length: n }, (_, i) => (i === 4 ? null : i * 1.5)), new Float64()).data[0],
    vectorFromArray(Array.from({ length: n }, (_, i) => (i === 7 ? null : `item-${i}`)), new Utf8()).data[0],
    makeData({ type: new TimestampNanosecond(), length: n, data: new BigInt64Array(n).map((_, i) => BigInt(i) * 1_000_000_000n) }),
    vectorFromArray(Array.from({ length: n }, (_, i) => i % 2 === 0), new Bool()).data[0],
    makeData({ type: fields[5].type as Dictionary, length: n, data: tagIndices, dictionary: tagDictionary }),
  ];
  const schema = new Schema(fields);
  return new RecordBatch(schema, makeData({ type: new Struct(fields), length: n, nullCount: 0, children }));
}

function ids(dataset: Dataset, ticket: { filters?: unknown; limit?: number; columns?: string[] }): number[] {
  const plan = planScan(dataset, { filters: parseFilters(ticket.filters), limit: ticket.limit, columns: ticket.columns });
  const out: number[] = [];
  for (const batch of plan.batches) for (const id of batch.getChild('id')!) out.push(Number(id));
  return out;
}

test('every filter operator on integer, float, string, timestamp, bool and dictionary columns', () => {
  const batch = mixedBatch();
  const dataset = new Dataset('mixed', batch.schema);
  dataset.append(batch);
  const f = (field: string, op: string, value: unknown) => ids(dataset, { filters: [{ field, op, value }] });
  assert.deepEqual(f('id', '=', 3), [3]);
  assert.deepEqual(f('id', '==', 3), [3]);
  assert.deepEqual(f('id', 'eq', '3'), [3]);
  assert.deepEqual(f('id', '!=', 3), [0, 1, 2, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(f('id', 'neq', 3).length, 9);
  assert.deepEqual(f('id', '>', 7), [8, 9]);
  assert.deepEqual(f('id', 'gt', 7), [8, 9]);
  assert.deepEqual(f('id', '<', 2), [0, 1]);
  assert.deepEqual(f('id', 'lt', 2), [0, 1]);
  assert.deepEqual(f('id', '>=', 8), [8, 9]);
  assert.deepEqual(f('id', 'ge', 8), [8, 9]);
  assert.deepEqual(f('id', '<=', 1), [0, 1]);
  assert.deepEqual(f('id', 'le', 1), [0, 1]);
  assert.deepEqual(f('price', '>', 10), [7, 8, 9]);
  assert.deepEqual(f('price', '!=', 0), [1, 2, 3, 5, 6, 7, 8, 9], 'a null price matches nothing');
  assert.deepEqual(f('name', '=', 'item-2'), [2]);
  assert.deepEqual(f('name', 'contains', 'em-1'), [1]);
  assert.deepEqual(f('name', '!=', 'item-2'), [0, 1, 3, 4, 5, 6, 8, 9], 'a null name matches nothing');
  assert.deepEqual(f('ts', '>=', 8_000_000_000), [8, 9]);
  assert.deepEqual(f('ts', '<', '1970-01-01T00:00:02Z'), [0, 1]);
  assert.deepEqual(f('flag', '=', true), [0, 2, 4, 6, 8]);
  assert.deepEqual(f('tag', '=', 'green'), [1, 4, 7]);
  assert.deepEqual(f('tag', 'contains', 'e'), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(ids(dataset, { filters: [{ field: 'id', op: '>', value: 2 }, { field: 'tag', operator: '=', value: 'red' }] }), [3, 6, 9]);
});

test('filter errors name the problem', () => {
  const batch = mixedBatch();
  const dataset = new Dataset('mixed', batch.schema);
  const bad = (filters: unknown, pattern: RegExp) =>
    assert.throws(() => planScan(dataset, { filters: parseFilters(filters) }), (error: Error) =>
      error.message.startsWith('invalid filter:') && pattern.test(error.message));
  bad([{ field: 'nope', op: '=', value: 1 }], /unknown column "nope"/);
  bad([{ field: 'id', op: '~', value: 1 }], /unknown operator/);
  bad([{ field: 'id', op: '=', value: 'abc' }], /must be an integer/);
  bad([{ field: 'price', op: '=', value: 'abc' }], /must be a number/);
  bad([{ field: 'name', op: '=', value: 3 }], /must be a string/);
  bad([{ field: 'id', op: 'contains', value: '3' }], /contains/);
  bad([{ field: 'flag', op: '>', value: true }], /boolean/);
  bad({ field: 'id' }, /must be a list/);
  bad([{ op: '=', value: 1 }], /needs a "field"/);
  bad([{ field: 'id', op: '=' }], /needs a "value"/);
});

test('limit, projection and bounded slices', () => {
  const dataset = new Dataset('vectors', makeBatch(10).schema);
  dataset.append(makeBatch(10, 4, 0));
  dataset.append(makeBatch(10, 4, 10));
  assert.deepEqual(ids(dataset, { limit: 12 }), [...Array(12).keys()]);
  assert.deepEqual(ids(dataset, { limit: 0 }), []);
  const plan = planScan(dataset, { filters: [], columns: ['label', 'id'] });
  assert.deepEqual(plan.schema.fields.map((field) => field.name), ['label', 'id']);
  const first = plan.batches.next().value as RecordBatch;
  assert.equal(first.getChild('label')!.get(1), 'row-1');
  assert.throws(() => planScan(dataset, { filters: [], columns: ['nope'] }), /unknown column: "nope"/);

  const big = new Dataset('big', makeBatch(1, 1024).schema);
  big.append(makeBatch(5000, 1024)); // ~20 MB: several ~4 MiB slices
  const slices = [...planScan(big, { filters: [] }).batches];
  assert.ok(slices.length >= 4, `expected several slices, got ${slices.length}`);
  assert.equal(slices.reduce((sum, slice) => sum + slice.numRows, 0), 5000);
});

test('gather keeps values, nulls and vectors of the chosen rows', () => {
  const batch = makeBatch(20, 3);
  const rows = new Uint32Array([19, 0, 5, 7]);
  const out = gatherBatch(batch, rows);
  assert.equal(out.numRows, 4);
  assert.deepEqual([...out.getChild('id')!].map(Number), [19, 0, 5, 7]);
  assert.deepEqual([...out.getChild('label')!], ['row-19', null, null, 'row-7']);
  assert.deepEqual([...out.getChild('vector')!.get(0)!], [...batch.getChild('vector')!.get(19)!]);
  const sliced = gatherBatch(batch.slice(10, 20), new Uint32Array([0, 5]));
  assert.deepEqual([...sliced.getChild('id')!].map(Number), [10, 15]);
  assert.deepEqual([...sliced.getChild('label')!], [null, null]);
  assert.deepEqual([...sliced.getChild('vector')!.get(1)!], [...batch.getChild('vector')!.get(15)!]);
  const mixed = gatherBatch(mixedBatch().slice(3), new Uint32Array([1, 4]));
  assert.deepEqual([...mixed.getChild('tag')!], ['green', 'green']);
  assert.deepEqual([...mixed.getChild('price')!], [null, 10.5]);
  assert.deepEqual([...mixed.getChild('flag')!], [true, false]);
  assert.deepEqual([...mixed.getChild('ts')!].map(Number), [4000, 7000]);
});

test('gatherFromMany takes each row from its own batch, nulls included, and declines what it cannot copy', () => {
  const whole = mixedBatch();
  const sliced = whole.slice(3); // row r of `sliced` is row r + 3 of `whole`
  const picks: Array<[RecordBatch, number]> = [[whole, 9], [sliced, 1], [whole, 4], [sliced, 4], [whole, 0], [whole, 7]];
  const rows = Uint32Array.from(picks, ([, row]) => row);
  for (const name of ['id', 'price', 'name', 'ts']) {
    const column = whole.schema.fields.findIndex((field) => field.name === name);
    const gathered = gatherFromMany(whole.schema.fields[column].type, picks.map(([batch]) => batch.data.children[column]), rows);
    assert.ok(gathered, name);
    const expected = picks.map(([batch, row]) => batch.getChildAt(column)!.get(row));
    assert.deepEqual([...new Vector([gathered])], expected, name);
  }
  // price is null at row 4 of whole, picked twice (directly and as row 1 of the slice).
  const price = gatherFromMany(new Float64(), picks.map(([batch]) => batch.data.children[1]), rows)!;
  assert.equal(price.nullCount, 2);
  // A null row's values may be absent (an all-null column without a values buffer).
  const allNull = makeData({ type: new Int64(), length: 3, nullCount: 3, nullBitmap: new Uint8Array(1) });
  const nulls = gatherFromMany(new Int64(), [allNull, picks[0][0].data.children[0], allNull], new Uint32Array([2, 5, 0]))!;
  assert.deepEqual([...new Vector([nulls])], [null, 5n, null]);
  for (const name of ['flag', 'tag']) {
    const column = whole.schema.fields.findIndex((field) => field.name === name);
    assert.equal(gatherFromMany(whole.schema.fields[column].type, picks.map(([batch]) => batch.data.children[column]), rows), undefined, name);
  }
});

test('ISO-8601 filter times are exact to the nanosecond and UTC when no offset is given', async () => {
  const { isoToEpochNanoseconds } = await import('../src/store/filters.ts');
  assert.equal(isoToEpochNanoseconds('1970-01-01T00:00:00.000000003Z'), 3n);
  assert.equal(isoToEpochNanoseconds('1970-01-01T00:00:01'), 1_000_000_000n);
  assert.equal(isoToEpochNanoseconds('1970-01-01 01:00:00+01:00'), 0n);
  assert.equal(isoToEpochNanoseconds('2024-01-06'), BigInt(Date.UTC(2024, 0, 6)) * 1_000_000n);
  assert.equal(isoToEpochNanoseconds('2024-13-01'), undefined);
  assert.equal(isoToEpochNanoseconds('yesterday'), undefined);
});

test('integers beyond 2^53 in JSON keep every digit', async () => {
  const { parseJsonObject } = await import('../src/service/json-body.ts');
  const parsed = parseJsonObject('{"filters":[{"field":"id","op":"=","value":9007199254740993}],"name":"a\\"9007199254740993"}');
  assert.ok(parsed.ok);
  const value = parsed.ok ? (parsed.value.filters as { value: unknown }[])[0].value : undefined;
  assert.equal(value, '9007199254740993');
  const batch = makeBatch(1);
  const ids = new BigInt64Array([9007199254740993n]);
  const dataset = new Dataset('big-ids', batch.schema);
  dataset.append(new RecordBatch(batch.schema, makeData({ ...batch.data, type: batch.data.type, children: [makeData({ type: new Int64(), length: 1, data: ids }), ...batch.data.children.slice(1)] })));
  const plan = planScan(dataset, { filters: parseFilters([{ field: 'id', op: '=', value }]) });
  assert.equal([...plan.batches].reduce((sum, b) => sum + b.numRows, 0), 1);
  const off = planScan(dataset, { filters: parseFilters([{ field: 'id', op: '=', value: 9007199254740992 }]) });
  assert.equal([...off.batches].reduce((sum, b) => sum + b.numRows, 0), 0);
});
