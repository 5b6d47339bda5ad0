/**
 * Vector search, delete and readiness through the client: search tickets, DoExchange batches,
 * the `delete` and `check_readiness` actions. Rows lie on a line (vector i = [i, 0, 0, 0]) so
 * the nearest neighbours of any query are known without ties.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import type { Table } from 'apache-arrow';
import { runCli } from '../../server/src/cli/longbow-cli.ts';
import { LongbowError, type Longbow } from '../src/index.ts';
import { runNodeExample, startClientFixture, type ClientFixture } from './helpers.ts';

const ROWS = 200;
const DIMENSIONS = 4;
let fixture: ClientFixture;
let lb: Longbow;

function ids(table: Table): number[] {
  return Array.from(table.getChild('id')!.toArray() as BigInt64Array, Number);
}

function query(position: number): Float32Array {
  return Float32Array.from([position, 0, 0, 0]);
}

before(async () => {
  fixture = await startClientFixture();
  lb = fixture.lb;
  const vectors = new Float32Array(ROWS * DIMENSIONS);
  for (let i = 0; i < ROWS; i++) vectors[i * DIMENSIONS] = i;
  const labels = Array.from({ length: ROWS }, (_, i) => (i % 2 === 0 ? 'even' : 'odd'));
  await lb.put('line', { ids: BigInt64Array.from({ length: ROWS }, (_, i) => BigInt(i)), vectors, label: labels });
  await lb.waitUntilReady('line', { waitMs: 10_000 });
});
after(async () => fixture.stop());

test('ready: READY with its row counts; an unknown dataset is NOT_FOUND', async () => {
  const readiness = await lb.ready('line');
  assert.equal(readiness.status, 'READY');
  assert.equal(readiness.rows, ROWS);
  assert.ok(readiness.indexed >= 0 && readiness.indexed <= ROWS);
  assert.equal((await lb.ready('no-such-dataset')).status, 'NOT_FOUND');
  await assert.rejects(lb.waitUntilReady('no-such-dataset'), (error: unknown) => error instanceof LongbowError && error.errorCode === 'DATASET_NOT_FOUND');
});

test('search: nearest first, with distance and score, filters and columns', async () => {
  const hits = await lb.search('line', query(10.2), { k: 3 });
  assert.deepEqual(ids(hits), [10, 11, 9]);
  assert.equal(String(hits.schema.fields.find((field) => field.name === 'distance')?.type), 'Float32');
  assert.ok(hits.getChild('score'));
  const distances = Array.from(hits.getChild('distance')!.toArray() as Float32Array);
  assert.deepEqual(distances, [...distances].sort((a, b) => a - b));

  const odd = await lb.search('line', query(10.2), { k: 2, filters: { label: 'odd' }, columns: ['label'] });
  assert.deepEqual(ids(odd), [11, 9]);
  assert.deepEqual(odd.getChild('label')!.toArray(), ['odd', 'odd']);
  const exact = await lb.search('line', query(50.4), { k: 2, exact: true });
  assert.deepEqual(ids(exact), [50, 51]);
});

test('searchMany over DoExchange: one Table per query, in order', async () => {
  const results = await lb.searchMany('line', [query(3.1), query(150.7), query(0)], { k: 2 });
  assert.deepEqual(results.map(ids), [[3, 4], [151, 150], [0, 1]]);
  assert.ok(results.every((table) => table.schema.fields.every((field) => field.name !== 'query_index')));
  const flat = new Float32Array([...query(20.1), ...query(30.9)]);
  assert.deepEqual((await lb.searchMany('line', flat, { k: 1, dim: DIMENSIONS, queriesPerBatch: 1 })).map(ids), [[20], [31]]);
});

test('searchMany with filters, columns and exact search; searchById leaves the row out', async () => {
  const results = await lb.searchMany('line', [query(3.1), query(8.2)], { k: 1, filters: { label: 'even' }, columns: ['label'] });
  assert.deepEqual(results.map(ids), [[4], [8]]);
  assert.deepEqual(results.map((table) => table.getChild('label')!.get(0)), ['even', 'even']);
  const many = await lb.searchMany('line', Array.from({ length: 300 }, (_, i) => query(i % ROWS)), { k: 1, exact: true, queriesPerBatch: 128 });
  assert.deepEqual(many.map((table) => ids(table)[0]), Array.from({ length: 300 }, (_, i) => i % ROWS));
  const neighbours = await lb.searchById('line', 50n, { k: 2 });
  assert.deepEqual(ids(neighbours).sort((a, b) => a - b), [49, 51]);
});

test('delete: deleted ids no longer come back from search', async () => {
  await lb.put('deletable', { ids: [1, 2, 3], vectors: [[1, 0], [2, 0], [3, 0]] });
  await lb.waitUntilReady('deletable', { waitMs: 10_000 });
  const reply = await lb.delete('deletable', [2n]);
  assert.equal(reply.status, 'ok');
  assert.equal(reply.deleted, 1);
  const hits = await lb.search('deletable', [2.1, 0], { k: 3 });
  assert.deepEqual(ids(hits).sort(), [1, 3]);
  await assert.rejects(lb.delete('no-such-dataset', [1]), (error: unknown) => error instanceof LongbowError && error.errorCode === 'DATASET_NOT_FOUND');
});

test('examples/search.ts: nearest articles share the query article\'s topic', async () => {
  await runNodeExample('embeddings.ts', fixture.url);
  const lines = (await runNodeExample('search.ts', fixture.url)).trimEnd().split('\n');
  assert.equal(lines[0], 'nearest to "Mapping the far side of the Moon":');
  assert.match(lines[1], /^  #1 Mapping the far side of the Moon \(space\), distance 0\.0000$/);
  assert.ok(lines.slice(2, 5).every((line) => line.includes('(space)')), lines.join('\n'));
  assert.match(lines[5], /^nearest to #9: #9, #1\d, #1\d$/);
  assert.match(lines[6], /^nearest to #17: #17, #(1[89]|2\d), #(1[89]|2\d)$/);
});

test('longbow search: by vector and by id, as JSON lines', async () => {
  const run = async (args: string[]): Promise<string> => {
    let out = '';
    const stdout = new Writable({ write(chunk: Buffer, _encoding, callback) { out += chunk.toString(); callback(); } });
    const stderr = new Writable({ write(_chunk, _encoding, callback) { callback(); } });
    const code = await runCli(args, { stdout, stderr, stdin: Readable.from([]), env: { LONGBOW_URL: fixture.url } });
    assert.equal(code, 0, `longbow ${args.join(' ')}`);
    return out;
  };
  const byVector = (await run(['search', 'line', '[10.2, 0, 0, 0]', '-k', '2', '-c', 'label', '--format', 'jsonl'])).trim().split('\n').map((line) => JSON.parse(line) as { id: number; label: string });
  assert.deepEqual(byVector.map((hit) => [hit.id, hit.label]), [[10, 'even'], [11, 'odd']]);
  const byId = (await run(['search', 'line', '--id', '20', '-k', '2', '--format', 'csv'])).trim().split('\n');
  assert.equal(byId[0].split(',')[0], 'id');
  assert.deepEqual(byId.slice(1).map((line) => Number(line.split(',')[0])).sort((a, b) => a - b), [19, 21]);
});
