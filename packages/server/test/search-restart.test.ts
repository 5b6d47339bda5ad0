/**
 * The HNSW index through a real server: results stay identical across a restart, the index is
 * saved with the snapshot and reopened (not rebuilt), and rows replayed from the WAL after the
 * snapshot are indexed again in the background while search already finds them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Field, FixedSizeList, Float32, Int64, RecordBatch, Schema, Struct, makeData } from 'apache-arrow';
import { pathDescriptor, type FlightClient } from '@longbow/flight';
import { startServer, type RunningServer } from './helpers.ts';
import { ClusteredVectors } from './vectors.ts';

const DIMENSIONS = 128;
// Above the exact-only threshold (8 MiB of vectors), so the dataset gets an HNSW graph.
const ROWS = 20_000;

function batchOf(firstId: number, rows: Float32Array): RecordBatch {
  const count = rows.length / DIMENSIONS;
  const fields = [
    new Field('id', new Int64(), false),
    new Field('vector', new FixedSizeList(DIMENSIONS, new Field('item', new Float32(), false)), false),
  ];
  const schema = new Schema(fields, new Map([['longbow.metric', 'cosine']]));
  const children = [
    makeData({ type: new Int64(), length: count, data: BigInt64Array.from({ length: count }, (_, i) => BigInt(firstId + i)) }),
    makeData({ type: fields[1].type as FixedSizeList, length: count, child: makeData({ type: new Float32(), length: rows.length, data: rows }) }),
  ];
  return new RecordBatch(schema, makeData({ type: new Struct(fields), length: count, nullCount: 0, children }));
}

async function readiness(client: FlightClient): Promise<{ status: string; rows: number; indexed: number; index: string }> {
  const [reply] = await client.doActionJson<{ status: string; rows: number; indexed: number; index: string }>('check_readiness', { dataset: 'emb' });
  return reply;
}

async function waitReady(client: FlightClient, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await readiness(client)).status !== 'READY') {
    if (Date.now() > deadline) throw new Error(`not READY after ${timeoutMs} ms: ${JSON.stringify(await readiness(client))}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function search(client: FlightClient, queries: Float32Array, count: number): Promise<string> {
  const out: string[] = [];
  for (let q = 0; q < count; q++) {
    const vector = Array.from(queries.subarray(q * DIMENSIONS, (q + 1) * DIMENSIONS));
    const table = await client.doGetTable(JSON.stringify({ search: { dataset: 'emb', vector, k: 10 } }));
    out.push(Array.from(table.getChild('id')!.toArray() as BigInt64Array).join(','));
  }
  return out.join('\n');
}

/** Ids two results of search() have in common, query by query. */
function sharedIds(first: string, second: string): number {
  const secondLines = second.split('\n');
  let shared = 0;
  first.split('\n').forEach((line, q) => { shared += line.split(',').filter((id) => secondLines[q].split(',').includes(id)).length; });
  return shared;
}

async function restart(previous: RunningServer): Promise<RunningServer> {
  previous.client.close();
  await previous.server.stop();
  return startServer({ LONGBOW_LOG_LEVEL: 'silent' }, previous.dataPath);
}

test('search results survive a restart; the snapshot carries the index, WAL rows are indexed again', async () => {
  const source = new ClusteredVectors({ dimensions: DIMENSIONS, seed: 11 });
  const vectors = source.sample(ROWS);
  const queries = source.sample(20);
  let running = await startServer({ LONGBOW_LOG_LEVEL: 'silent' });
  try {
    await running.client.doPut(pathDescriptor('emb'), batchOf(0, vectors).schema, [batchOf(0, vectors.subarray(0, (ROWS / 2) * DIMENSIONS)), batchOf(ROWS / 2, vectors.subarray((ROWS / 2) * DIMENSIONS))]);
    // Searchable at once, before the graph is built.
    const immediate = await search(running.client, vectors, 1);
    assert.equal(immediate.split(',')[0], '0');
    await waitReady(running.client);
    const before = await search(running.client, queries, 20);
    const [snapshot] = await running.client.doActionJson<{ status: string }>('force_snapshot');
    assert.equal(snapshot.status, 'ok');

    running = await restart(running);
    // Reopened from the snapshot: fully indexed straight away (no rebuild).
    const reopened = await readiness(running.client);
    assert.deepEqual([reopened.status, reopened.index, reopened.rows, reopened.indexed], ['READY', 'ready', ROWS, ROWS]);
    assert.equal(await search(running.client, queries, 20), before);

    // Rows after the snapshot come back from the WAL and are searchable at once.
    const extra = source.sample(500);
    await running.client.doPut(pathDescriptor('emb'), batchOf(ROWS, extra).schema, [batchOf(ROWS, extra)]);
    running = await restart(running);
    const first = Array.from(extra.subarray(0, DIMENSIONS));
    const table = await running.client.doGetTable(JSON.stringify({ search: { dataset: 'emb', vector: first, k: 1 } }));
    assert.equal(Number(table.getChild('id')!.get(0)), ROWS);
    await waitReady(running.client);
    assert.equal((await readiness(running.client)).indexed, ROWS + 500);
  } finally {
    running.client.close();
    await running.server.stop();
    rmSync(running.dataPath, { recursive: true, force: true });
  }
});

test('LONGBOW_VECTOR_INDEX=exact builds no graph (also over a snapshot that has one) and finds the exact neighbours', async () => {
  const source = new ClusteredVectors({ dimensions: DIMENSIONS, seed: 12 });
  const vectors = source.sample(ROWS);
  const queries = source.sample(5);
  let running = await startServer({ LONGBOW_LOG_LEVEL: 'silent' });
  try {
    await running.client.doPut(pathDescriptor('emb'), batchOf(0, vectors).schema, [batchOf(0, vectors)]);
    await waitReady(running.client);
    const graphResults = await search(running.client, queries, 5);
    const [snapshot] = await running.client.doActionJson<{ status: string }>('force_snapshot');
    assert.equal(snapshot.status, 'ok');
    running.client.close();
    await running.server.stop();

    running = await startServer({ LONGBOW_LOG_LEVEL: 'silent', LONGBOW_VECTOR_INDEX: 'exact' }, running.dataPath);
    const flat = await readiness(running.client);
    assert.deepEqual([flat.status, flat.index, flat.rows, flat.indexed], ['READY', 'flat', ROWS, ROWS]);
    const exactResults = await search(running.client, queries, 5);
    const extra = source.sample(100);
    await running.client.doPut(pathDescriptor('emb'), batchOf(ROWS, extra).schema, [batchOf(ROWS, extra)]);
    assert.equal((await readiness(running.client)).index, 'flat', 'appended rows start no graph either');
    const [stats] = await running.client.doActionJson<{ config: Record<string, unknown> }>('get_stats');
    assert.equal(stats.config.LONGBOW_VECTOR_INDEX, 'exact');
    // Exact search may differ from the graph's answer only where the graph missed a neighbour.
    const agreeing = sharedIds(exactResults, graphResults);
    assert.ok(agreeing >= 0.9 * 5 * 10, `exact and graph results share only ${agreeing} of 50 ids`);
  } finally {
    running.client.close();
    await running.server.stop();
    rmSync(running.dataPath, { recursive: true, force: true });
  }
});

/** index.json of the dataset's index in the newest snapshot under `dataPath`. */
function savedIndexMeta(dataPath: string): { storage: string; scale?: number } {
  const snapshots = join(dataPath, 'snapshots');
  const newest = readdirSync(snapshots).filter((name) => !name.startsWith('.') && !name.endsWith('.tmp')).sort().at(-1)!;
  const directory = readdirSync(join(snapshots, newest)).find((name) => name.startsWith('index-'))!;
  return JSON.parse(readFileSync(join(snapshots, newest, directory, 'index.json'), 'utf8')) as { storage: string; scale?: number };
}

test('LONGBOW_HNSW_STORAGE sets the precision of new graphs; a saved graph keeps its own across a restart', async () => {
  const source = new ClusteredVectors({ dimensions: DIMENSIONS, seed: 13 });
  const vectors = source.sample(ROWS);
  const queries = source.sample(5);
  let running = await startServer({ LONGBOW_LOG_LEVEL: 'silent', LONGBOW_HNSW_STORAGE: 'bf16' });
  try {
    await running.client.doPut(pathDescriptor('emb'), batchOf(0, vectors).schema, [batchOf(0, vectors)]);
    await waitReady(running.client);
    const before = await search(running.client, queries, 5);
    const [stats] = await running.client.doActionJson<{ config: Record<string, unknown> }>('get_stats');
    assert.equal(stats.config.LONGBOW_HNSW_STORAGE, 'bf16');
    await running.client.doActionJson('force_snapshot');
    assert.equal(savedIndexMeta(running.dataPath).storage, 'bf16');
    running = await restart(running); // the default setting: i8
    const reopened = await readiness(running.client);
    assert.deepEqual([reopened.status, reopened.indexed], ['READY', ROWS], 'the saved graph is loaded, not rebuilt');
    assert.equal(await search(running.client, queries, 5), before);
    await running.client.doActionJson('force_snapshot');
    assert.equal(savedIndexMeta(running.dataPath).storage, 'bf16');
    // A new dataset gets the setting in force, i8 (cosine: no scale; each vector is scaled by its own).
    await running.client.doActionJson('drop_dataset', 'emb');
    await running.client.doPut(pathDescriptor('emb'), batchOf(0, vectors).schema, [batchOf(0, vectors)]);
    await waitReady(running.client);
    await running.client.doActionJson('force_snapshot');
    const meta = savedIndexMeta(running.dataPath);
    assert.deepEqual([meta.storage, meta.scale], ['i8', undefined]);
    const shared = sharedIds(before, await search(running.client, queries, 5));
    assert.ok(shared >= 0.9 * 5 * 10, `i8 and bf16 results share only ${shared} of 50 ids`);
  } finally {
    running.client.close();
    await running.server.stop();
    rmSync(running.dataPath, { recursive: true, force: true });
  }
});
