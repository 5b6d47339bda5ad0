/**
 * Configuration from .env and hot reload on SIGHUP, against a real server process: the effect
 * is checked through get_stats, writes and the log lines.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlightError, GrpcStatus, pathDescriptor } from '@longbow/flight';
import { makeBatch } from './helpers.ts';
import { SERVER_ARGS, startServerProcess, type ServerProcess } from './server-process.ts';

let directory: string;
let envFile: string;
let server: ServerProcess;

type Stats = { max_memory: number; current_memory: number; datasets: number; config: Record<string, unknown>; snapshot: { succeeded: number } };

async function stats(): Promise<Stats> {
  const [reply] = await server.client.doActionJson<Stats>('get_stats');
  return reply;
}

/** Rewrites .env, sends SIGHUP and waits for the reload's outcome line (the n-th of its kind). */
async function reload(lines: string[], outcome: 'Configuration reloaded' | 'Configuration reload failed'): Promise<Record<string, unknown>> {
  const seen = server.logLines().filter((line) => String(line.msg).startsWith(outcome)).length;
  writeFileSync(envFile, `${lines.join('\n')}\n`);
  server.child.kill('SIGHUP');
  const matches = (line: Record<string, unknown>) => String(line.msg).startsWith(outcome);
  await server.waitForLog(() => server.logLines().filter(matches).length > seen);
  return server.logLines().filter(matches)[seen];
}

async function put(name: string, rows: number): Promise<void> {
  await server.client.doPut(pathDescriptor(name), makeBatch(rows).schema, [makeBatch(rows)]);
}

before(async () => {
  directory = mkdtempSync(join(tmpdir(), 'longbow-reload-'));
  envFile = join(directory, 'longbow.env');
  writeFileSync(envFile, 'LONGBOW_MAX_MEMORY=64MiB\nLONGBOW_SNAPSHOT_INTERVAL=1h\n');
  server = await startServerProcess({ LONGBOW_DATA_PATH: join(directory, 'data'), LONGBOW_ENV_FILE: envFile }, directory);
});

after(async () => {
  await server.stop();
  rmSync(directory, { recursive: true, force: true });
});

test('settings come from the .env file named by LONGBOW_ENV_FILE', async () => {
  const reply = await stats();
  assert.equal(reply.max_memory, 64 * 2 ** 20);
  assert.equal(reply.config.LONGBOW_SNAPSHOT_INTERVAL, '1h');
  assert.equal(reply.config.LONGBOW_AUTH_TOKEN, null);
});

test('SIGHUP applies a new memory limit and snapshot interval, and logs exactly two INFO lines', async () => {
  await put('kept', 100);
  const line = await reload(['LONGBOW_MAX_MEMORY=128MiB', 'LONGBOW_SNAPSHOT_INTERVAL=300ms'], 'Configuration reloaded');
  assert.equal(line.level, 'INFO');
  assert.equal(line.max_memory, 128 * 2 ** 20);
  assert.equal(line.snapshot_interval, '300ms');
  const lines = server.logLines();
  const index = lines.indexOf(lines.find((entry) => entry.msg === 'Configuration reloaded' && entry.max_memory === 128 * 2 ** 20)!);
  assert.deepEqual([lines[index - 1].level, lines[index - 1].msg], ['INFO', 'Received SIGHUP, reloading configuration']);
  assert.equal((await stats()).max_memory, 128 * 2 ** 20);
  // The timer restarted with the new interval: snapshots now follow each other quickly.
  await server.waitForLog((entry) => entry.msg === 'Snapshot created', 10_000);
  assert.ok((await stats()).snapshot.succeeded >= 1);
});

test('an invalid .env keeps the configuration in force and names the key', async () => {
  const line = await reload(['LONGBOW_MAX_MEMORY=lots', 'LONGBOW_SNAPSHOT_INTERVAL=1h'], 'Configuration reload failed');
  assert.equal(line.level, 'ERROR');
  assert.equal(line.key, 'LONGBOW_MAX_MEMORY');
  assert.match(String(line.msg), /LONGBOW_MAX_MEMORY/);
  assert.equal((await stats()).max_memory, 128 * 2 ** 20);
  const broken = await reload(['LONGBOW_MAX_MEMORY 1GiB'], 'Configuration reload failed');
  assert.equal(broken.key, 'LONGBOW_MAX_MEMORY');
});

test('a setting that needs a restart is logged as such and left alone', async () => {
  const line = await reload(['LONGBOW_MAX_MEMORY=128MiB', 'LONGBOW_LISTEN_ADDR=127.0.0.1:1', 'LONGBOW_SNAPSHOT_INTERVAL=1h'], 'Configuration reloaded');
  assert.equal(line.snapshot_interval, '1h');
  const warning = server.logLines().find((entry) => entry.level === 'WARN' && entry.key === 'LONGBOW_LISTEN_ADDR');
  assert.ok(warning, 'no WARN line for LONGBOW_LISTEN_ADDR');
  assert.match(String(warning.msg), /requires restart/);
  // The server still serves on its original port.
  assert.equal((await stats()).config.LONGBOW_LISTEN_ADDR, '127.0.0.1:0');
});

test('lowering the limit below current use refuses new writes and keeps the data', async () => {
  const before = await stats();
  assert.ok(before.current_memory > 1024);
  await reload(['LONGBOW_MAX_MEMORY=1KiB'], 'Configuration reloaded');
  await assert.rejects(put('refused', 10), (error: unknown) =>
    error instanceof FlightError && error.code === GrpcStatus.RESOURCE_EXHAUSTED && /memory limit/.test(error.message));
  const after = await stats();
  assert.equal(after.current_memory, before.current_memory);
  assert.equal((await server.client.doGetTable('kept')).numRows, 100);
  await reload(['LONGBOW_MAX_MEMORY=128MiB'], 'Configuration reloaded');
  await put('accepted-again', 10);
});

test('LONGBOW_LOG_LEVEL and LONGBOW_TTL reload: an idle dataset is evicted durably', async () => {
  await put('idle', 5);
  const line = await reload(['LONGBOW_MAX_MEMORY=128MiB', 'LONGBOW_TTL=400ms', 'LONGBOW_LOG_LEVEL=debug'], 'Configuration reloaded');
  assert.equal(line.ttl, '400ms');
  const evicted = await server.waitForLog((entry) => entry.msg === 'Dataset evicted' && entry.dataset === 'idle', 10_000);
  assert.equal(evicted.reason, 'ttl');
  // debug lines now appear (every finished call is logged at debug).
  await stats();
  await server.waitForLog((entry) => entry.level === 'DEBUG');
  await reload(['LONGBOW_MAX_MEMORY=128MiB', 'LONGBOW_TTL=0'], 'Configuration reloaded');
  await assert.rejects(server.client.doGetTable('idle'), (error: unknown) => error instanceof FlightError && error.code === GrpcStatus.NOT_FOUND);
});

test('an invalid value at startup exits 2 with one line naming the variable and the accepted form', () => {
  const result = spawnSync(process.execPath, SERVER_ARGS, {
    cwd: directory, env: { ...process.env, LONGBOW_SNAPSHOT_INTERVAL: '5 minutes', LONGBOW_DATA_PATH: join(directory, 'never') }, encoding: 'utf8',
  });
  assert.equal(result.status, 2);
  assert.equal(result.stderr.trim().split('\n').length, 1);
  assert.match(result.stderr, /LONGBOW_SNAPSHOT_INTERVAL: invalid value "5 minutes" \(duration: a Go-style duration, e\.g\. 30s, 5m, 1h30m/);
});

test('the .env in the working directory is read, and the real environment wins over it', () => {
  writeFileSync(join(directory, '.env'), 'LONGBOW_TTL=soon\n');
  const fromFile = spawnSync(process.execPath, SERVER_ARGS, {
    cwd: directory, env: { ...process.env, LONGBOW_DATA_PATH: join(directory, 'never') }, encoding: 'utf8',
  });
  assert.equal(fromFile.status, 2);
  assert.match(fromFile.stderr, /LONGBOW_TTL/);
  const overridden = spawnSync(process.execPath, SERVER_ARGS, {
    cwd: directory, env: { ...process.env, LONGBOW_TTL: '1x', LONGBOW_DATA_PATH: join(directory, 'never') }, encoding: 'utf8',
  });
  assert.match(overridden.stderr, /"1x"/);
  rmSync(join(directory, '.env'));
});
