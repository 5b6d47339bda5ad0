/**
 * Deletes and upserts through a real server: the `delete` action, what DoGet, FlightInfo and
 * get_stats report, errors, and durability (WAL replay, snapshots, both, a v1 snapshot).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Int64, RecordBatch, Struct, makeData } from 'apache-arrow';
import { FlightError, GrpcStatus, pathDescriptor } from '@longbow/flight';
import { makeBatch, startServer } from './helpers.ts';

type Running = Awaited<ReturnType<typeof startServer>>;

async function put(server: Running, name: string, rows: number, startId: number) {
  const results = await server.client.doPut(pathDescriptor(name), makeBatch(1).schema, [makeBatch(rows, 4, startId)]);
  return results.map((result) => JSON.parse(Buffer.from(result.appMetadata).toString('utf8')) as Record<string, number>);
}

async function ids(server: Running, ticket: string | object): Promise<number[]> {
  const table = await server.client.doGetTable(typeof ticket === 'string' ? ticket : JSON.stringify(ticket));
  return [...table.getChild('id')!].map(Number);
}

async function remove(server: Running, body: unknown) {
  const [reply] = await server.client.doActionJson<Record<string, unknown>>('delete', body);
  return reply;
}

async function restart(server: Running, env: Record<string, string> = {}): Promise<Running> {
  server.client.close();
  await server.server.stop();
  return startServer(env, server.dataPath);
}

async function rejects(promise: Promise<unknown>, status: GrpcStatus, errorCode: string, prefix: string) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof FlightError, String(error));
    assert.equal(GrpcStatus[error.code], GrpcStatus[status], error.message);
    assert.equal(error.errorCode, errorCode);
    assert.ok(error.message.startsWith(prefix), error.message);
    return true;
  });
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const without = (values: number[], removed: number[]) => values.filter((value) => !removed.includes(value));

test('delete action: reply, DoGet (with filters and limit), FlightInfo, ListFlights and get_stats leave deleted rows out', async () => {
  const server = await startServer();
  try {
    await put(server, 'd', 10, 0);
    const reply = await remove(server, { dataset: 'd', ids: [1, '3', 5, 5, 42] });
    assert.deepEqual({ ...reply, seq: 0 }, { status: 'ok', dataset: 'd', deleted: 3, not_found: 1, seq: 0 });
    assert.ok((reply.seq as number) > 1);
    assert.deepEqual((await remove(server, { name: 'd', ids: [] })).deleted, 0, '"name" works too, and an empty list');
    const live = without(range(0, 10), [1, 3, 5]);
    assert.deepEqual(await ids(server, 'd'), live);
    assert.deepEqual(await ids(server, { name: 'd', limit: 3 }), [0, 2, 4]);
    assert.deepEqual(await ids(server, { name: 'd', filters: [{ field: 'id', op: '<', value: 6 }] }), [0, 2, 4]);
    const info = await server.client.getFlightInfo(pathDescriptor('d'));
    assert.equal(info.totalRecords, 7);
    const listed: number[] = [];
    for await (const flight of server.client.listFlights({ expression: Buffer.from(JSON.stringify({ filters: [{ field: 'rows', op: '=', value: 7 }] })) })) {
      listed.push(Number(flight.totalRecords));
    }
    assert.deepEqual(listed, [7]);
    const [stats] = await server.client.doActionJson<{ total_rows: number; dataset_stats: Record<string, unknown>[] }>('get_stats');
    assert.equal(stats.total_rows, 7);
    assert.equal(stats.dataset_stats[0].rows, 7);
    assert.equal(stats.dataset_stats[0].deleted_rows, 3);
    const actions = await server.client.listActions();
    assert.ok(actions.some((action) => action.type === 'delete' && action.description.length > 0));
  } finally {
    await server.stop();
  }
});

test('upsert through DoPut: re-put ids replace the older rows; total_rows counts live rows', async () => {
  const server = await startServer();
  try {
    await put(server, 'u', 5, 0);
    const [ack] = await put(server, 'u', 5, 3); // ids 3..7: 3 and 4 replace the first rows
    assert.equal(ack.rows, 5);
    assert.equal(ack.total_rows, 8);
    assert.deepEqual(await ids(server, 'u'), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal((await server.client.getFlightInfo(pathDescriptor('u'))).totalRecords, 8);
    const [stats] = await server.client.doActionJson<{ dataset_stats: Record<string, unknown>[] }>('get_stats');
    assert.equal(stats.dataset_stats[0].deleted_rows, 2);
  } finally {
    await server.stop();
  }
});

test('delete errors: unknown dataset, no id column, wrong id types, bad bodies', async () => {
  const server = await startServer();
  try {
    await put(server, 'e', 3, 0);
    const noId = makeBatch(2).selectAt([1, 2]);
    await server.client.doPut(pathDescriptor('no-id'), noId.schema, [noId]);
    await rejects(remove(server, { dataset: 'nope', ids: [1] }), GrpcStatus.NOT_FOUND, 'DATASET_NOT_FOUND', 'dataset not found: nope');
    await rejects(remove(server, { dataset: 'no-id', ids: [1] }), GrpcStatus.INVALID_ARGUMENT, 'ID_COLUMN_MISSING', 'no id column: dataset "no-id" has no "id" column');
    await rejects(remove(server, { dataset: 'e', ids: ['x'] }), GrpcStatus.INVALID_ARGUMENT, 'INVALID_ID', 'invalid id: ids[0]: "x" is not an integer');
    await rejects(remove(server, { dataset: 'e', ids: [true] }), GrpcStatus.INVALID_ARGUMENT, 'INVALID_ID', 'invalid id: ids[0]: true');
    await rejects(remove(server, { dataset: 'e', ids: 1 }), GrpcStatus.INVALID_ARGUMENT, 'INVALID_ACTION_BODY', 'invalid action body: "ids" must be a list');
    await rejects(remove(server, { ids: [1] }), GrpcStatus.INVALID_ARGUMENT, 'INVALID_ACTION_BODY', 'invalid action body: "dataset"');
    await rejects(remove(server, { dataset: 'e', ids: [1], id: 2 }), GrpcStatus.INVALID_ARGUMENT, 'INVALID_ACTION_BODY', 'invalid action body: unknown field "id"');
    await rejects(remove(server, 'e'), GrpcStatus.INVALID_ARGUMENT, 'INVALID_ACTION_BODY', 'invalid action body: bad JSON');
    assert.deepEqual(await ids(server, 'e'), [0, 1, 2], 'nothing was deleted');
  } finally {
    await server.stop();
  }
});

test('int64 ids beyond 2^53 sent as JSON numbers are deleted exactly', async () => {
  const server = await startServer();
  try {
    const batch = makeBatch(3);
    const ids64 = BigInt64Array.from([0n, 1n, 2n], (i) => 2n ** 60n + i);
    const children = [makeData({ type: new Int64(), length: 3, data: ids64 }), ...batch.data.children.slice(1)];
    const bigBatch = new RecordBatch(batch.schema, makeData({ type: new Struct(batch.schema.fields), length: 3, nullCount: 0, children }));
    await server.client.doPut(pathDescriptor('big'), bigBatch.schema, [bigBatch]);
    const [before] = await server.client.doActionJson<Record<string, number>>('delete', `{"dataset":"big","ids":[1152921504606846977]}`);
    assert.equal(before.deleted, 1);
    const table = await server.client.doGetTable('big');
    assert.deepEqual([...table.getChild('id')!].map(String), ['1152921504606846976', '1152921504606846978']);
  } finally {
    await server.stop();
  }
});

test('deletes and upserts survive a restart (WAL replay), a snapshot, and both', async () => {
  let server = await startServer();
  try {
    await put(server, 'a', 10, 0);
    await remove(server, { dataset: 'a', ids: [2, 4] });
    await put(server, 'a', 2, 8); // upsert 8, 9
    await put(server, 'gone', 2, 0);
    await remove(server, { dataset: 'gone', ids: [0] });
    await server.client.doActionJson('drop_dataset', 'gone');
    await put(server, 'gone', 2, 10); // re-created: the older delete does not touch it
    const expected = without(range(0, 10), [2, 4]);
    server = await restart(server);
    assert.deepEqual(await ids(server, 'a'), expected, 'WAL replay');
    assert.deepEqual(await ids(server, 'gone'), [10, 11]);
    assert.equal((await server.client.getFlightInfo(pathDescriptor('a'))).totalRecords, 8);
    const [snapshot] = await server.client.doActionJson<Record<string, unknown>>('force_snapshot');
    assert.equal(snapshot.rows, 10, 'the snapshot reply counts live rows');
    const manifest = JSON.parse(readFileSync(join(server.dataPath, 'snapshots', snapshot.id as string, 'manifest.json'), 'utf8'));
    assert.equal(manifest.formatVersion, 2);
    const entry = manifest.datasets.find((dataset: { name: string }) => dataset.name === 'a');
    assert.equal(entry.rows, 12, 'the dataset file holds every row');
    assert.deepEqual({ ...entry.tombstones, crc32c: 0 }, { file: 'dataset-000000.deleted', rows: 4, fileBytes: 2, crc32c: 0 });
    assert.equal(manifest.datasets.find((dataset: { name: string }) => dataset.name === 'gone').tombstones, undefined);
    await remove(server, { dataset: 'a', ids: [0] }); // after the snapshot: only in the log
    await put(server, 'a', 1, 3); // upsert after the snapshot
    server = await restart(server);
    assert.deepEqual(await ids(server, 'a'), without(expected, [0, 3]).concat([3]), 'snapshot, then the log after it');
    await remove(server, { dataset: 'a', ids: [1] });
    server = await restart(server);
    assert.deepEqual(await ids(server, 'a'), without(expected, [0, 1, 3]).concat([3]));
    const [stats] = await server.client.doActionJson<{ dataset_stats: Record<string, unknown>[] }>('get_stats');
    assert.deepEqual(stats.dataset_stats.map((dataset) => [dataset.name, dataset.rows, dataset.deleted_rows]), [['a', 6, 7], ['gone', 2, 0]]);
    // The delete after the restart must not find rows deleted before it.
    assert.deepEqual((await remove(server, { dataset: 'a', ids: [0, 2, 4] })).deleted, 0);
  } finally {
    await server.stop();
  }
});

test('a snapshot with a damaged tombstones file refuses to start; a version 1 snapshot still loads', async () => {
  let server = await startServer();
  const { dataPath } = server;
  try {
    await put(server, 't', 4, 0);
    await remove(server, { dataset: 't', ids: [1] });
    const [snapshot] = await server.client.doActionJson<{ id: string }>('force_snapshot');
    server.client.close();
    await server.server.stop();
    const directory = join(dataPath, 'snapshots', snapshot.id);
    const bitmapFile = join(directory, 'dataset-000000.deleted');
    const original = readFileSync(bitmapFile);
    writeFileSync(bitmapFile, Buffer.from([original[0] ^ 0x08]));
    await assert.rejects(startServer({}, dataPath), /snapshot corrupt: .*dataset-000000\.deleted: checksum mismatch/);
    writeFileSync(bitmapFile, original);
    // The same snapshot as version 1 wrote it: no tombstones (version 1 had no deletes).
    const manifestFile = join(directory, 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
    delete manifest.datasets[0].tombstones;
    manifest.formatVersion = 1;
    writeFileSync(manifestFile, JSON.stringify(manifest));
    server = await startServer({}, dataPath);
    assert.deepEqual(await ids(server, 't'), [0, 1, 2, 3]);
  } finally {
    await server.stop();
  }
});
