/**
 * Deletes, upserts and id lookups in the store alone (no server): row ordinals, tombstones,
 * the id index, scans that leave deleted rows out, errors and the observer hooks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Field, Int32, Int64, RecordBatch, Schema, Struct, Uint64, Utf8, makeData, vectorFromArray, type DataType,
} from 'apache-arrow';
import { FlightError } from '@longbow/flight';
import { Store } from '../src/store/store.ts';
import { planScan } from '../src/store/scan.ts';
import { DatasetRows } from '../src/store/dataset-rows.ts';
import { normalizeId } from '../src/store/id-index.ts';
import { IntegerKeyMap } from '../src/store/integer-key-map.ts';
import { idsBatch, keysOfIdsBatch } from '../src/store/ids-batch.ts';
import type { Filter } from '../src/store/filters.ts';
import { makeBatch } from './helpers.ts';

/** A batch with `id` (of `idType`, default int64) and `label` utf8. */
function batchOf(ids: (number | bigint | string | null)[], labels: string[], idType: DataType = new Int64()): RecordBatch {
  const fields = [new Field('id', idType, true), new Field('label', new Utf8(), true)];
  const isBig = String(idType) === 'Int64' || String(idType) === 'Uint64';
  const values = ids.map((id) => (isBig && typeof id === 'number' ? BigInt(id) : id));
  const children = [vectorFromArray(values as never[], idType).data[0], vectorFromArray(labels, new Utf8()).data[0]];
  return new RecordBatch(new Schema(fields), makeData({ type: new Struct(fields), length: ids.length, nullCount: 0, children }));
}

function scan(store: Store, name: string, request: { filters?: Filter[]; limit?: number } = {}) {
  const plan = planScan(store.get(name), { filters: request.filters ?? [], limit: request.limit });
  const rows: { id: string; label: string }[] = [];
  for (const batch of plan.batches) {
    for (let i = 0; i < batch.numRows; i++) {
      rows.push({ id: String(batch.getChild('id')!.get(i)), label: String(batch.getChild('label')!.get(i)) });
    }
  }
  return rows;
}

const labels = (store: Store, name: string, request?: { filters?: Filter[]; limit?: number }) => scan(store, name, request).map((row) => row.label);

function assertCode(code: string, pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof FlightError, String(error));
    assert.equal(error.errorCode, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

test('DatasetRows: ordinals, tombstones per batch, old views unchanged', () => {
  const a = DatasetRows.empty.withBatch(makeBatch(10)).withBatch(makeBatch(5)).withBatch(makeBatch(20));
  assert.deepEqual(a.firstOrdinals, [0, 10, 15]);
  assert.equal(a.totalRows, 35);
  assert.deepEqual([0, 9, 10, 14, 15, 34].map((ordinal) => a.batchIndexOf(ordinal)), [0, 0, 1, 1, 2, 2]);
  assert.deepEqual(a.locate(16).row, 1);
  const { rows: b, deleted } = a.withDeleted([16, 3, 16, 34, 12]);
  assert.deepEqual(deleted, [3, 12, 16, 34], 'ascending, once each');
  assert.equal(b.deletedRows, 4);
  assert.equal(b.liveRows, 31);
  assert.equal(a.deletedRows, 0, 'the old view is unchanged');
  assert.equal(a.isDeleted(3), false);
  assert.deepEqual([2, 3, 4, 12, 16, 34].map((ordinal) => b.isDeleted(ordinal)), [false, true, false, true, true, true]);
  const { rows: c, deleted: again } = b.withDeleted([3, 4]);
  assert.deepEqual(again, [4], 'an already deleted row is not deleted twice');
  assert.equal(b.isDeleted(4), false, 'the bitmap of a touched batch is copied, not changed in place');
  const bitmap = c.deletedBitmap();
  assert.equal(bitmap.length, 5);
  const set = Array.from({ length: 35 }, (_, i) => i).filter((i) => bitmap[i >> 3] & (1 << (i & 7)));
  assert.deepEqual(set, [3, 4, 12, 16, 34]);
  assert.throws(() => c.withDeleted([35]), /out of range/);
});

test('upsert: a put with existing ids deletes the older rows, the last occurrence in a batch wins', async () => {
  const store = new Store({ maxMemoryBytes: 0 });
  await store.append('u', batchOf([1, 2, 3, 4], ['a1', 'a2', 'a3', 'a4']));
  const result = await store.append('u', batchOf([3, 5, 5, 1], ['b3', 'b5', 'b5-last', 'b1']));
  assert.equal(result.totalRows, 5, 'total_rows counts live rows');
  assert.deepEqual(labels(store, 'u'), ['a2', 'a4', 'b3', 'b5-last', 'b1']);
  const dataset = store.get('u');
  assert.equal(dataset.rows, 5);
  assert.equal(dataset.totalRows, 8);
  assert.equal(dataset.deletedRows, 3);
  assert.equal(dataset.ordinalOfId(5), 6);
  assert.equal(dataset.ordinalOfId('1'), 7);
  assert.equal(dataset.ordinalOfId(1n), 7);
  assert.equal(dataset.ordinalOfId(99), undefined);
  assert.deepEqual([0, 4, 5, 6, 7].map((ordinal) => dataset.isDeleted(ordinal)), [true, false, true, false, false]);
  assert.deepEqual(store.stats().datasets[0], { name: 'u', rows: 5, deletedRows: 3, bytes: dataset.bytes, batches: 2, columns: 2 });
});

test('null ids are never indexed, replaced or found', async () => {
  const store = new Store({ maxMemoryBytes: 0 });
  await store.append('n', batchOf([null, 1, null], ['x', 'one', 'y']));
  await store.append('n', batchOf([null], ['z']));
  assert.deepEqual(labels(store, 'n'), ['x', 'one', 'y', 'z']);
  assert.deepEqual(await store.delete('n', [2]), { dataset: 'n', deleted: 0, notFound: 1, seq: 3 });
});

test('delete: counts deleted and not found, is idempotent, and scans leave the rows out (filters, limit)', async () => {
  const store = new Store({ maxMemoryBytes: 0 });
  await store.append('d', makeBatch(10, 4, 0));
  await store.append('d', makeBatch(10, 4, 10));
  const bytes = store.currentMemoryBytes;
  const reply = await store.delete('d', [0, 3, '4', 3, 15, 99, 19n]);
  assert.deepEqual({ ...reply, seq: 0 }, { dataset: 'd', deleted: 5, notFound: 1, seq: 0 });
  assert.equal(reply.seq, 3);
  assert.deepEqual((await store.delete('d', [3])).deleted, 0, 'deleting again deletes nothing');
  assert.equal(store.currentMemoryBytes, bytes, 'deleted rows keep their memory');
  const ids = (request?: { filters?: Filter[]; limit?: number }) => scan(store, 'd', request).map((row) => Number(row.id));
  assert.deepEqual(ids(), [1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18]);
  assert.deepEqual(ids({ limit: 4 }), [1, 2, 5, 6]);
  assert.deepEqual(ids({ filters: [{ field: 'id', op: 'ge', value: 14 }] }), [14, 16, 17, 18]);
  assert.deepEqual(ids({ filters: [{ field: 'id', op: 'lt', value: 12 }], limit: 3 }), [1, 2, 5]);
  assert.equal(store.get('d').rows, 15);
  // Re-putting a deleted id brings it back as a new row.
  await store.append('d', makeBatch(1, 4, 3));
  assert.deepEqual(ids().slice(-2), [18, 3]);
});

test('delete errors: unknown dataset, no id column, ids of the wrong type or range', async () => {
  const store = new Store({ maxMemoryBytes: 0 });
  const noId = makeBatch(2).selectAt([1, 2]);
  await store.append('plain', noId);
  await store.append('i64', makeBatch(2));
  await store.append('s', batchOf(['a', 'b'], ['A', 'B'], new Utf8()));
  await store.append('i32', batchOf([1, 2], ['A', 'B'], new Int32()));
  await assert.rejects(store.delete('nope', [1]), assertCode('DATASET_NOT_FOUND', /^dataset not found: nope$/));
  await assert.rejects(store.delete('plain', [1]), assertCode('ID_COLUMN_MISSING', /^no id column: dataset "plain" has no "id" column/));
  await assert.rejects(store.delete('i64', [1, 'abc']), assertCode('INVALID_ID', /^invalid id: ids\[1\]: "abc" is not an integer/));
  await assert.rejects(store.delete('i64', [1.5]), assertCode('INVALID_ID', /1\.5 is not an integer/));
  await assert.rejects(store.delete('i64', [null]), assertCode('INVALID_ID'));
  await assert.rejects(store.delete('i64', ['9223372036854775808']), assertCode('INVALID_ID', /out of range for int64/));
  await assert.rejects(store.delete('s', [1]), assertCode('INVALID_ID', /1 is not a string \(the id column is utf8\)/));
  await assert.rejects(store.delete('i32', [2 ** 31]), assertCode('INVALID_ID', /out of range for int32/));
  const sequence = store.lastSequence;
  await assert.rejects(store.delete('i64', [0, {}]), assertCode('INVALID_ID'));
  assert.equal(store.lastSequence, sequence, 'a refused delete takes no sequence');
  assert.equal(store.get('i64').rows, 2, 'and deletes nothing');
  assert.throws(() => store.get('plain').ordinalOfId(1), assertCode('ID_COLUMN_MISSING'));
  assert.equal((await store.delete('s', ['b'])).deleted, 1);
  assert.equal((await store.delete('i32', ['1'])).deleted, 1);
});

test('int64 and uint64 ids are exact beyond 2^53, as numbers, strings or bigints', async () => {
  const store = new Store({ maxMemoryBytes: 0 });
  const big = 2n ** 60n + 1n;
  await store.append('big', batchOf([big, big + 1n, -(2n ** 62n), 7n], ['p', 'q', 'neg', 'seven']));
  assert.equal(store.get('big').ordinalOfId(String(big)), 0);
  assert.equal(store.get('big').ordinalOfId(big + 1n), 1);
  assert.equal(store.get('big').ordinalOfId(String(big + 2n)), undefined);
  assert.equal((await store.delete('big', [String(big + 1n), -(2n ** 62n), 7])).deleted, 3);
  assert.deepEqual(labels(store, 'big'), ['p']);
  const max = 2n ** 64n - 1n;
  await store.append('u64', batchOf([max, 1n], ['max', 'one'], new Uint64()));
  await store.append('u64', batchOf([max], ['max-again'], new Uint64()));
  assert.deepEqual(labels(store, 'u64'), ['one', 'max-again']);
  assert.throws(() => normalizeId('uint64', -1), /out of range for uint64/);
  assert.equal(normalizeId('int64', '0009'), 9);
});

test('ids batches (the delete record payload) round-trip every id type', () => {
  const cases: [Parameters<typeof idsBatch>[0], (number | bigint | string)[]][] = [
    ['int32', [-5, 0, 2 ** 31 - 1]], ['uint32', [0, 2 ** 32 - 1]], ['int64', [-(2n ** 63n), 1, 2n ** 63n - 1n]],
    ['uint64', [0, 2n ** 64n - 1n]], ['utf8', ['a', '', 'ü✓']],
  ];
  for (const [type, ids] of cases) {
    const keys = ids.map((id) => normalizeId(type, id));
    const batch = idsBatch(type, keys);
    assert.equal(batch.schema.fields[0].name, 'id');
    assert.deepEqual(keysOfIdsBatch(batch), keys, type);
  }
});

test('utf8 ids: upsert and delete', async () => {
  const store = new Store({ maxMemoryBytes: 0 });
  await store.append('s', batchOf(['x', 'y', 'z'], ['x1', 'y1', 'z1'], new Utf8()));
  await store.append('s', batchOf(['y'], ['y2'], new Utf8()));
  assert.deepEqual((await store.delete('s', ['z', 'nope'])).notFound, 1);
  assert.deepEqual(labels(store, 's'), ['x1', 'y2']);
});

test('a column named id added by schema evolution starts the id index from there', async () => {
  const store = new Store({ maxMemoryBytes: 0 });
  const labelOnly = [new Field('label', new Utf8(), true)];
  const first = new RecordBatch(new Schema(labelOnly), makeData({
    type: new Struct(labelOnly), length: 1, nullCount: 0, children: [vectorFromArray(['early'], new Utf8()).data[0]],
  }));
  await store.append('evolve', first);
  await assert.rejects(store.delete('evolve', [1]), assertCode('ID_COLUMN_MISSING'));
  const fields = [new Field('label', new Utf8(), true), new Field('id', new Int64(), true)];
  const children = [vectorFromArray(['late'], new Utf8()).data[0], vectorFromArray([1n], new Int64()).data[0]];
  await store.append('evolve', new RecordBatch(new Schema(fields), makeData({ type: new Struct(fields), length: 1, nullCount: 0, children })));
  assert.equal((await store.delete('evolve', [1])).deleted, 1);
  assert.deepEqual(labels(store, 'evolve'), ['early']);
});

test('observer hooks see appends, deletes (upserts included) and drops, in order', async () => {
  const store = new Store({ maxMemoryBytes: 0 });
  const events: string[] = [];
  store.onRowsAppended = (dataset, firstOrdinal, batch) => events.push(`append ${dataset.name} ${firstOrdinal}+${batch.numRows}`);
  store.onRowsDeleted = (dataset, ordinals) => events.push(`delete ${dataset.name} ${ordinals.join(',')}`);
  store.onDatasetDropped = (dataset) => events.push(`drop ${dataset.name}`);
  await store.append('h', batchOf([1, 2, 3], ['a', 'b', 'c']));
  await store.append('h', batchOf([2, 4, 4], ['b2', 'd', 'd2']));
  await store.delete('h', [1, 9]);
  await store.delete('h', [9]);
  await store.drop('h');
  assert.deepEqual(events, ['append h 0+3', 'append h 3+3', 'delete h 1,4', 'delete h 0', 'drop h']);
});

test('replay and snapshot restore give the same state as the live writes', async () => {
  const live = new Store({ maxMemoryBytes: 0 });
  const log: (() => Promise<unknown>)[] = [];
  const write = async (step: () => Promise<unknown>) => { log.push(step); await step(); };
  await write(() => live.append('r', batchOf([1, 2, 3], ['a', 'b', 'c'])));
  await write(() => live.delete('r', [2]));
  await write(() => live.append('r', batchOf([2, 3], ['b2', 'c2'])));
  await write(() => live.delete('r', [1]));
  const view = live.get('r').rowsView;
  const restored = new Store({ maxMemoryBytes: 0 });
  const deletedEvents: number[][] = [];
  restored.onRowsDeleted = (_dataset, ordinals) => deletedEvents.push([...ordinals]);
  restored.restoreDataset('r', live.get('r').schema, view.batches, view.deletedBitmap(), live.lastSequence);
  assert.deepEqual(labels(restored, 'r'), labels(live, 'r'));
  assert.deepEqual(labels(live, 'r'), ['b2', 'c2']);
  assert.equal(restored.get('r').ordinalOfId(1), undefined, 'a deleted id is not in the restored index');
  assert.equal(restored.get('r').ordinalOfId(3), 4);
  assert.equal(restored.lastSequence, live.lastSequence);
  assert.deepEqual(deletedEvents.flat().sort(), [0, 1, 2], 'every deleted ordinal is reported once');
  await restored.append('r', batchOf([1], ['a2']));
  assert.deepEqual(labels(restored, 'r'), ['b2', 'c2', 'a2']);
});

test('IntegerKeyMap agrees with a Map over random sets and deletions (negative and large keys)', () => {
  let seed = 12345;
  const random = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };
  const table = new IntegerKeyMap();
  const reference = new Map<number, number>();
  const pool = Array.from({ length: 3000 }, (_, i) => (i % 3 === 0 ? -i : i % 3 === 1 ? i * 2 ** 33 + 7 : i));
  for (let step = 0; step < 60_000; step++) {
    const key = pool[Math.floor(random() * pool.length)];
    if (random() < 0.6) {
      const value = step;
      assert.equal(table.set(key, value), reference.get(key));
      reference.set(key, value);
    } else {
      const current = reference.get(key);
      const guess = random() < 0.8 && current !== undefined ? current : step;
      const removed = table.deleteIf(key, guess);
      assert.equal(removed, current === guess);
      if (removed) reference.delete(key);
    }
    assert.equal(table.size, reference.size);
  }
  for (const key of pool) assert.equal(table.get(key), reference.get(key));
});

test('IntegerKeyMap: ids in order stay a dense run until one breaks it, with the same answers as a Map', () => {
  const check = (table: IntegerKeyMap, reference: Map<number, number>, probes: number[]) => {
    assert.equal(table.size, reference.size);
    for (const key of probes) assert.equal(table.get(key), reference.get(key), `key ${key}`);
  };
  const table = new IntegerKeyMap();
  const reference = new Map<number, number>();
  const probes = [-1, 0, 999, 1000, 1001, 5000, 2 ** 53 - 1, -(2 ** 53 - 1), 10.5];
  for (let key = 1000; key < 6000; key++) {
    assert.equal(table.set(key, key - 1000 + 7), undefined);
    reference.set(key, key - 1000 + 7);
  }
  check(table, reference, [...probes, 5999, 6000]);
  // Deleting the last entry shrinks the run; a wrong value or a missing key deletes nothing.
  assert.equal(table.deleteIf(5999, 5999 - 1000 + 7), true);
  reference.delete(5999);
  assert.equal(table.deleteIf(5998, 1), false);
  assert.equal(table.deleteIf(999, 0), false);
  check(table, reference, [...probes, 5998, 5999]);
  // Re-putting an id in the middle (an upsert) leaves the run: every entry stays findable.
  assert.equal(table.set(3000, 123_456), 2000 + 7);
  reference.set(3000, 123_456);
  check(table, reference, [...probes, 2999, 3000, 3001, 5998]);
  for (let key = 1000; key < 5999; key += 13) assert.equal(table.get(key), reference.get(key));
  // A delete in the middle of a run also leaves it.
  const other = new IntegerKeyMap();
  for (let key = 0; key < 100; key++) other.set(key, key);
  assert.equal(other.deleteIf(50, 50), true);
  assert.equal(other.get(50), undefined);
  assert.equal(other.get(51), 51);
  assert.equal(other.size, 99);
});

test('IntegerKeyMap.reserve keeps every entry and makes room for a batch at once', () => {
  const table = new IntegerKeyMap();
  for (let key = 0; key < 1000; key++) table.set(key * 7 - 3000, key);
  table.reserve(0); // no-op
  table.reserve(100_000);
  assert.equal(table.size, 1000);
  for (let key = 0; key < 1000; key++) assert.equal(table.get(key * 7 - 3000), key);
  for (let key = 1000; key < 101_000; key++) assert.equal(table.set(key * 7 - 3000, key), undefined);
  assert.equal(table.size, 101_000);
  for (let key = 0; key < 101_000; key += 97) assert.equal(table.get(key * 7 - 3000), key);
  assert.equal(table.get(-1), undefined);
});
