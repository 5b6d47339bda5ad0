/**
 * Snapshots and the recovery decision table: what startup does with every combination of
 * snapshot and write-ahead log it may find.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathDescriptor } from '@longbow/flight';
import { LongbowServer, createLogger, loadConfig } from '../src/index.ts';
import { RecoveryError } from '../src/persistence.ts';
import { makeBatch, startServer } from './helpers.ts';

type Running = Awaited<ReturnType<typeof startServer>>;

async function put(server: Running, name: string, rows: number, startId: number) {
  await server.client.doPut(pathDescriptor(name), makeBatch(1).schema, [makeBatch(rows, 4, startId)]);
}

async function ids(server: Running, name: string): Promise<number[]> {
  return [...(await server.client.doGetTable(name)).getChild('id')!].map(Number);
}

async function restart(server: Running, env: Record<string, string> = {}): Promise<Running> {
  server.client.close();
  await server.server.stop();
  return startServer(env, server.dataPath);
}

async function refusesToStart(dataPath: string, pattern: RegExp): Promise<void> {
  const config = loadConfig({ LONGBOW_LISTEN_ADDR: '127.0.0.1:0', LONGBOW_META_ADDR: '127.0.0.1:0', LONGBOW_METRICS_ADDR: '127.0.0.1:0', LONGBOW_DATA_PATH: dataPath, LONGBOW_LOG_LEVEL: 'silent' });
  const server = new LongbowServer(config, createLogger({ level: 'silent' }));
  await assert.rejects(server.start(), (error: Error) => error instanceof RecoveryError && pattern.test(error.message));
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

test('force_snapshot writes a snapshot, trims the log, and a restart loads it plus later writes', async () => {
  let server = await startServer({ LONGBOW_MAX_WAL_SIZE: '4KiB' });
  try {
    for (let i = 0; i < 5; i++) await put(server, 'a', 10, i * 10);
    await put(server, 'b', 3, 0);
    await put(server, 'gone', 3, 0);
    await server.client.doActionJson('drop_dataset', 'gone');
    const walBefore = readdirSync(join(server.dataPath, 'wal')).length;
    const [reply] = await server.client.doActionJson<Record<string, number | string>>('force_snapshot');
    assert.equal(reply.status, 'ok');
    assert.equal(reply.message, 'snapshot created');
    assert.equal(reply.datasets, 2);
    assert.equal(reply.rows, 53);
    assert.ok((reply.bytes as number) > 50 * 4 * 4 && (reply.seq as number) >= 8);
    assert.ok((reply.wal_segments_deleted as number) > 0, 'segments covered by the snapshot are deleted');
    assert.ok(readdirSync(join(server.dataPath, 'wal')).length < walBefore);
    assert.equal(readFileSync(join(server.dataPath, 'snapshots', 'CURRENT'), 'utf8').trim(), reply.id);
    await put(server, 'a', 10, 50); // after the snapshot: only in the log
    server = await restart(server);
    assert.deepEqual(await ids(server, 'a'), range(0, 60));
    assert.deepEqual(await ids(server, 'b'), range(0, 3));
    const names: string[] = [];
    for await (const info of server.client.listFlights()) names.push(info.flightDescriptor!.path[0]);
    assert.deepEqual(names, ['a', 'b']);
    const [second] = await server.client.doActionJson<Record<string, string>>('force_snapshot');
    assert.notEqual(second.id, reply.id);
    assert.deepEqual(readdirSync(join(server.dataPath, 'snapshots')).filter((name) => name.startsWith('snapshot-')), [second.id], 'older snapshots are removed');
  } finally {
    await server.stop();
  }
});

test('writes continue while a snapshot is written and all of them survive', async () => {
  let server = await startServer();
  try {
    await put(server, 'busy', 20_000, 0); // a few MB so the snapshot takes a moment
    const writes = Array.from({ length: 20 }, (_, i) => put(server, 'busy', 5, 20_000 + i * 5));
    const snapshot = server.client.doActionJson('force_snapshot');
    await Promise.all([...writes, snapshot]);
    server = await restart(server);
    assert.deepEqual((await ids(server, 'busy')).sort((x, y) => x - y), range(0, 20_100));
  } finally {
    await server.stop();
  }
});

test('recovery: empty data directory, WAL only, snapshot only', async () => {
  let server = await startServer();
  try {
    assert.equal((await server.client.doActionJson<{ datasets: number }>('get_stats'))[0].datasets, 0, 'empty directory: empty store');
    await put(server, 'w', 4, 0);
    server = await restart(server);
    assert.deepEqual(await ids(server, 'w'), range(0, 4), 'WAL only');
    await server.client.doActionJson('force_snapshot');
    server.client.close();
    await server.server.stop();
    rmSync(join(server.dataPath, 'wal'), { recursive: true, force: true });
    server = await startServer({}, server.dataPath);
    assert.deepEqual(await ids(server, 'w'), range(0, 4), 'snapshot only');
    await put(server, 'w', 2, 4);
    server = await restart(server);
    assert.deepEqual(await ids(server, 'w'), range(0, 6), 'snapshot, then a new log after it');
  } finally {
    await server.stop();
  }
});

test('recovery: a half-written snapshot directory is removed and ignored', async () => {
  let server = await startServer();
  try {
    await put(server, 'h', 3, 0);
    await server.client.doActionJson('force_snapshot');
    await put(server, 'h', 3, 3);
    server.client.close();
    await server.server.stop();
    const stale = join(server.dataPath, 'snapshots', 'snapshot-00000000000000009999.tmp');
    mkdirSync(stale);
    writeFileSync(join(stale, 'dataset-000000.arrows'), 'half');
    server = await startServer({}, server.dataPath);
    assert.deepEqual(await ids(server, 'h'), range(0, 6));
    assert.equal(existsSync(stale), false);
  } finally {
    await server.stop();
  }
});

test('recovery: a manifest naming a missing or damaged file refuses to start, truncate mode starts from the log', async () => {
  const server = await startServer();
  const { dataPath } = server;
  try {
    await put(server, 'm', 3, 0);
    const [reply] = await server.client.doActionJson<{ id: string }>('force_snapshot');
    await put(server, 'm', 3, 3);
    server.client.close();
    await server.server.stop();
    const file = join(dataPath, 'snapshots', reply.id, 'dataset-000000.arrows');
    const original = readFileSync(file);
    appendFileSync(file, 'x');
    await refusesToStart(dataPath, /snapshot corrupt: .*dataset-000000\.arrows: .*bytes, the manifest says/);
    writeFileSync(file, Buffer.concat([original.subarray(0, 100), Buffer.from([original[100] ^ 1]), original.subarray(101)]));
    await refusesToStart(dataPath, /checksum mismatch/);
    rmSync(file);
    await refusesToStart(dataPath, /dataset-000000\.arrows: unreadable/);
    writeFileSync(join(dataPath, 'snapshots', 'CURRENT'), 'snapshot-00000000000000000077\n');
    await refusesToStart(dataPath, /manifest\.json: missing/);
    const truncating = await startServer({ LONGBOW_WAL_RECOVERY: 'truncate' }, dataPath);
    try {
      assert.deepEqual(await ids(truncating, 'm'), range(3, 6), 'only what the log still holds after the snapshot trimmed it');
    } finally {
      await truncating.stop();
    }
  } finally {
    rmSync(dataPath, { recursive: true, force: true });
  }
});

test('recovery: a bad checksum in the middle of the log refuses to start, naming file and offset', async () => {
  const server = await startServer();
  const { dataPath } = server;
  try {
    for (let i = 0; i < 3; i++) await put(server, 'c', 2, i * 2);
    server.client.close();
    await server.server.stop();
    const walDir = join(dataPath, 'wal');
    const segment = join(walDir, readdirSync(walDir)[0]);
    const bytes = readFileSync(segment);
    bytes[60] ^= 0xff; // inside the first record, with valid records after it
    writeFileSync(segment, bytes);
    await refusesToStart(dataPath, /WAL corrupt: .*\.wal at byte offset \d+/);
    const truncating = await startServer({ LONGBOW_WAL_RECOVERY: 'truncate' }, dataPath);
    await truncating.stop();
  } finally {
    rmSync(dataPath, { recursive: true, force: true });
  }
});
