/**
 * Vector search through Flight against a real server: DoGet search tickets, the VectorSearch,
 * VectorSearchByID and check_readiness actions, DoExchange; filters, deletes, upserts, errors;
 * and the index saved with a snapshot and reloaded after a restart.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Field, FixedSizeList, Float32, Int32, Int64, RecordBatch, Schema, Struct, Utf8, makeData, tableFromIPC, vectorFromArray, type Data, type Table,
} from 'apache-arrow';
import { FlightDataEncoder, FlightError, GrpcStatus, pathDescriptor, type FlightClient, type FlightData } from '@longbow/flight';
import { startServer, type RunningServer } from './helpers.ts';
import { ClusteredVectors } from './vectors.ts';

const DIMENSIONS = 16;
const ROWS = 3000;

let running: RunningServer;
let client: FlightClient;
let vectors: Float32Array;

function batchOf(ids: number[], rows: Float32Array, metric?: string): RecordBatch {
  const count = ids.length;
  const fields = [
    new Field('id', new Int64(), false),
    new Field('vector', new FixedSizeList(DIMENSIONS, new Field('item', new Float32(), false)), false),
    new Field('category', new Utf8(), false),
  ];
  const schema = new Schema(fields, metric ? new Map([['longbow.metric', metric]]) : undefined);
  const children: Data[] = [
    makeData({ type: new Int64(), length: count, data: BigInt64Array.from(ids, BigInt) }),
    makeData({ type: fields[1].type as FixedSizeList, length: count, child: makeData({ type: new Float32(), length: count * DIMENSIONS, data: rows }) }),
    vectorFromArray(ids.map((id) => (id % 10 === 0 ? 'rare' : 'common')), new Utf8()).data[0],
  ];
  return new RecordBatch(schema, makeData({ type: new Struct(fields), length: count, nullCount: 0, children }));
}

async function put(name: string, batch: RecordBatch, target = client): Promise<void> {
  await target.doPut(pathDescriptor(name), batch.schema, [batch]);
}

function query(row: number): number[] {
  return Array.from(vectors.subarray(row * DIMENSIONS, (row + 1) * DIMENSIONS));
}

/** Exact nearest rows by squared L2 over `rows` (ordinals = ids here). */
function exactNeighbours(q: number[], k: number, allowed: (id: number) => boolean = () => true): number[] {
  const scored: [number, number][] = [];
  for (let row = 0; row < ROWS; row++) {
    if (!allowed(row)) continue;
    let sum = 0;
    for (let d = 0; d < DIMENSIONS; d++) sum += (vectors[row * DIMENSIONS + d] - q[d]) ** 2;
    scored.push([sum, row]);
  }
  return scored.sort((a, b) => a[0] - b[0]).slice(0, k).map(([, row]) => row);
}

async function searchTicket(body: Record<string, unknown>, target = client): Promise<Table> {
  return target.doGetTable(JSON.stringify({ search: body }));
}

function ids(table: Table): number[] {
  return Array.from(table.getChild('id')!.toArray() as BigInt64Array, Number);
}

async function rejectsWith(promise: Promise<unknown>, code: GrpcStatus, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof FlightError, String(error));
    assert.equal(GrpcStatus[error.code], GrpcStatus[code], error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

before(async () => {
  running = await startServer({ LONGBOW_LOG_LEVEL: 'silent' });
  client = running.client;
  vectors = new ClusteredVectors({ dimensions: DIMENSIONS, seed: 7 }).sample(ROWS);
  await put('docs', batchOf(Array.from({ length: ROWS }, (_, i) => i), vectors));
});
after(async () => { await running.stop(); });

test('a DoGet search ticket returns id, distance, score and the requested columns, nearest first', async () => {
  const table = await searchTicket({ dataset: 'docs', vector: query(42), k: 5, columns: ['category'] });
  assert.deepEqual(table.schema.fields.map((field) => field.name), ['id', 'distance', 'score', 'category']);
  assert.equal(table.numRows, 5);
  assert.deepEqual(ids(table), exactNeighbours(query(42), 5));
  const distances = Array.from(table.getChild('distance')!.toArray() as Float32Array);
  assert.equal(distances[0], 0);
  assert.deepEqual([...distances].sort((a, b) => a - b), distances);
  assert.equal(table.getChild('score')!.get(0), 1, 'euclidean score 1/(1+d) is 1 at distance 0');
});

test('the dataset may be named beside "search", and the vector column is returned on request', async () => {
  const table = await client.doGetTable(JSON.stringify({ name: 'docs', search: { vector: query(7), k: 3, include_vectors: true } }));
  assert.deepEqual(table.schema.fields.map((field) => field.name), ['id', 'distance', 'score', 'vector']);
  assert.deepEqual(Array.from(table.getChild('vector')!.get(0)!.toArray() as Float32Array), query(7));
});

test('filtered search only returns matching rows, exactly the nearest of them', async () => {
  const table = await searchTicket({
    dataset: 'docs', vector: query(5), k: 10, filters: [{ field: 'category', op: '=', value: 'rare' }], columns: ['category'],
  });
  assert.deepEqual(ids(table), exactNeighbours(query(5), 10, (id) => id % 10 === 0));
  assert.ok(Array.from({ length: table.numRows }, (_, row) => table.getChild('category')!.get(row)).every((value) => value === 'rare'));
});

test('VectorSearch answers one Arrow IPC stream Result per query vector', async () => {
  const results = [];
  for await (const result of client.doAction('VectorSearch', JSON.stringify({ dataset: 'docs', vectors: [query(1), query(2)], k: 4 }))) {
    results.push(tableFromIPC(result.body));
  }
  assert.equal(results.length, 2);
  assert.deepEqual(ids(results[0]), exactNeighbours(query(1), 4));
  assert.deepEqual(ids(results[1]), exactNeighbours(query(2), 4));
});

test('VectorSearchByID leaves the row itself out', async () => {
  const [result] = await (async () => { const out = []; for await (const r of client.doAction('VectorSearchByID', JSON.stringify({ dataset: 'docs', id: 9, k: 3 }))) out.push(r); return out; })();
  const table = tableFromIPC(result.body);
  assert.deepEqual(ids(table), exactNeighbours(query(9), 4).filter((id) => id !== 9).slice(0, 3));
  await rejectsWith(client.doActionJson('VectorSearchByID', { dataset: 'docs', id: 123456 }), GrpcStatus.NOT_FOUND, /id not found/);
});

test('DoExchange streams batches of queries and answers each with query_index, per-query k', async () => {
  const querySchema = new Schema([
    new Field('vector', new FixedSizeList(DIMENSIONS, new Field('item', new Float32(), false)), false),
    new Field('k', new Int32(), false),
  ]);
  const queryBatch = (rows: number[], k: number[]) => new RecordBatch(querySchema, makeData({
    type: new Struct(querySchema.fields), length: rows.length, nullCount: 0, children: [
      makeData({ type: querySchema.fields[0].type as FixedSizeList, length: rows.length, child: makeData({ type: new Float32(), length: rows.length * DIMENSIONS, data: Float32Array.from(rows.flatMap(query)) }) }),
      makeData({ type: new Int32(), length: rows.length, data: Int32Array.from(k) }),
    ],
  }));
  const encoder = new FlightDataEncoder(querySchema);
  const messages: FlightData[] = [
    { ...encoder.schemaMessage(), flightDescriptor: pathDescriptor('docs'), appMetadata: Buffer.from(JSON.stringify({ columns: ['category'] })) },
    ...encoder.batchMessages(queryBatch([3, 4], [2, 3])),
    ...encoder.batchMessages(queryBatch([5], [1])),
  ];
  const { FlightDataDecoder } = await import('@longbow/flight');
  const decoder = new FlightDataDecoder();
  const batches: RecordBatch[] = [];
  for await (const message of client.doExchange(messages)) {
    const decoded = decoder.decode(message);
    if (decoded.kind === 'batch') batches.push(decoded.batch);
  }
  assert.equal(batches.length, 2);
  assert.deepEqual(batches[0].schema.fields.map((field) => field.name), ['query_index', 'id', 'distance', 'score', 'category']);
  assert.deepEqual(Array.from(batches[0].getChild('query_index')!.toArray() as Int32Array), [0, 0, 1, 1, 1]);
  assert.deepEqual(Array.from(batches[1].getChild('query_index')!.toArray() as Int32Array), [2]);
  assert.deepEqual(Array.from(batches[0].getChild('id')!.toArray() as BigInt64Array, Number), [...exactNeighbours(query(3), 2), ...exactNeighbours(query(4), 3)]);
});

test('bad searches are INVALID_ARGUMENT and say what was expected', async () => {
  await rejectsWith(searchTicket({ dataset: 'docs', vector: query(1), k: 0 }), GrpcStatus.INVALID_ARGUMENT, /"k" must be an integer from 1/);
  await rejectsWith(searchTicket({ dataset: 'docs', vector: [1, 2, 3] }), GrpcStatus.INVALID_ARGUMENT, /3 dimensions, dataset docs has 16/);
  await rejectsWith(client.doGetTable(`{"search":{"dataset":"docs","vector":[NaN]}}`), GrpcStatus.INVALID_ARGUMENT, /invalid ticket/);
  await rejectsWith(searchTicket({ dataset: 'docs', vector: [1e39, ...query(1).slice(1)] }), GrpcStatus.INVALID_ARGUMENT, /does not fit in float32/);
  await rejectsWith(searchTicket({ dataset: 'docs', vector: [null, ...query(1).slice(1)] }), GrpcStatus.INVALID_ARGUMENT, /must be a finite number/);
  await rejectsWith(searchTicket({ dataset: 'nope', vector: [1] }), GrpcStatus.NOT_FOUND, /dataset not found: nope/);
  await rejectsWith(searchTicket({ dataset: 'docs', vector: query(1), columns: ['nope'] }), GrpcStatus.INVALID_ARGUMENT, /unknown column/);
  const plain = new Schema([new Field('name', new Utf8(), false)]);
  await put('plain', new RecordBatch(plain, makeData({ type: new Struct(plain.fields), length: 1, nullCount: 0, children: [vectorFromArray(['x'], new Utf8()).data[0]] })));
  await rejectsWith(searchTicket({ dataset: 'plain', vector: [1] }), GrpcStatus.INVALID_ARGUMENT, /has no vector column/);
});

test('deletes and upserts are honoured by search; check_readiness reports rows', async () => {
  const before = ids(await searchTicket({ dataset: 'docs', vector: query(100), k: 3 }));
  assert.equal(before[0], 100);
  await client.doActionJson('delete', { dataset: 'docs', ids: [100] });
  const after = ids(await searchTicket({ dataset: 'docs', vector: query(100), k: 3 }));
  assert.ok(!after.includes(100));
  // Upsert: id 200 moves to where row 300 is.
  await put('docs', batchOf([200], vectors.slice(300 * DIMENSIONS, 301 * DIMENSIONS)));
  const near300 = ids(await searchTicket({ dataset: 'docs', vector: query(300), k: 2 }));
  assert.deepEqual(near300.sort((a, b) => a - b), [200, 300]);
  const near200 = ids(await searchTicket({ dataset: 'docs', vector: query(200), k: 1 }));
  assert.notEqual(near200[0], 200);
  const [ready] = await client.doActionJson<Record<string, unknown>>('check_readiness', { dataset: 'docs' });
  assert.equal(ready.rows, ROWS - 1);
  assert.ok(ready.status === 'READY' || ready.status === 'INDEXING');
  assert.deepEqual((await client.doActionJson<Record<string, unknown>>('check_readiness', { dataset: 'nope' }))[0].status, 'NOT_FOUND');
});
