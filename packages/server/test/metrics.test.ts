/**
 * Metrics: a real server, its /metrics scraped over HTTP before and after Flight calls, WAL
 * writes, snapshots and restarts; /healthz; the bounded `longbow_rows` label set; no token
 * needed on the metrics port.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlightClient, FlightDataEncoder, pathDescriptor, type FlightData } from '@longbow/flight';
import type { RecordBatch } from 'apache-arrow';
import { makeBatch, startServer, type RunningServer } from './helpers.ts';
import { LongbowMetrics, OTHER_DATASETS_LABEL, boundedRows } from '../src/metrics/longbow-metrics.ts';
import { MetricsHttpServer, type HealthState } from '../src/metrics/metrics-http-server.ts';
import { createLogger } from '../src/log/logger.ts';
import { RecordType, WalWriter } from '../src/wal/index.ts';

let running: RunningServer;
before(async () => { running = await startServer(); });
after(async () => { await running.stop(); });

interface Sample { name: string; labels: Record<string, string>; value: number }

function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

class Scrape {
  constructor(readonly text: string, readonly samples = parseSamples(text)) {}

  /** The value of one series; 0 when absent (a counter not yet incremented). */
  value(name: string, labels: Record<string, string> = {}): number {
    const found = this.samples.find((sample) => sample.name === name
      && Object.keys(labels).length === Object.keys(sample.labels).length
      && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
    return found?.value ?? 0;
  }

  has(name: string): boolean {
    return this.samples.some((sample) => sample.name === name);
  }
}

async function scrape(server: RunningServer = running): Promise<Scrape> {
  const response = await fetch(`http://${server.metricsAddr}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return new Scrape(await response.text());
}

/** Payload bytes of a DoPut of `batches`, encoded as the client encodes them. */
function putPayloadBytes(batches: RecordBatch[]): number {
  const encoder = new FlightDataEncoder(batches[0].schema);
  const messages = [encoder.schemaMessage(), ...batches.flatMap((batch) => encoder.batchMessages(batch))];
  return messages.reduce((sum, message) => sum + message.dataHeader.byteLength + message.dataBody.byteLength + message.appMetadata.byteLength, 0);
}

function flightDataBytes(message: FlightData): number {
  return message.dataHeader.byteLength + message.dataBody.byteLength + message.appMetadata.byteLength;
}

test('DoPut, DoGet and DoAction move the operation, duration and byte counters by the right amounts', async () => {
  const batches = [makeBatch(20_000, 16), makeBatch(5_000, 16, 20_000)];
  const before = await scrape();
  await running.client.doPut(pathDescriptor('metered'), batches[0].schema, batches);
  let received = 0;
  for await (const message of running.client.doGetMessages('metered')) received += flightDataBytes(message);
  await running.client.doActionJson('get_stats');
  await assert.rejects(running.client.doGetTable('no-such-dataset'));
  const after = await scrape();
  const delta = (name: string, labels: Record<string, string>) => after.value(name, labels) - before.value(name, labels);

  assert.equal(delta('longbow_flight_operations_total', { method: 'DoPut', status: 'OK' }), 1);
  assert.equal(delta('longbow_flight_operations_total', { method: 'DoGet', status: 'OK' }), 1);
  assert.equal(delta('longbow_flight_operations_total', { method: 'DoGet', status: 'NOT_FOUND' }), 1);
  assert.equal(delta('longbow_flight_operations_total', { method: 'DoAction', status: 'OK' }), 1);
  assert.equal(delta('longbow_flight_duration_seconds_count', { method: 'DoGet' }), 2);
  assert.ok(delta('longbow_flight_duration_seconds_sum', { method: 'DoPut' }) > 0);

  const putBytes = delta('longbow_flight_bytes_processed_total', { method: 'DoPut' });
  const expectedPut = putPayloadBytes(batches);
  assert.ok(expectedPut > 25_000 * 16 * 4, `payload ${expectedPut}`);
  assert.equal(putBytes, expectedPut);
  assert.equal(delta('longbow_flight_bytes_processed_total', { method: 'DoGet' }), received);
  assert.ok(received > 25_000 * 16 * 4, `DoGet sent ${received}`);
  assert.equal(delta('longbow_flight_bytes_processed_total', { method: 'DoAction' }), 0);
});

test('WAL writes, bytes and fsyncs are counted', async () => {
  const batch = makeBatch(1_000, 8);
  const before = await scrape();
  await running.client.doPut(pathDescriptor('wal-metered'), batch.schema, [batch, makeBatch(10, 8, 1_000)]);
  const after = await scrape();
  assert.equal(after.value('longbow_wal_writes_total', { status: 'ok' }) - before.value('longbow_wal_writes_total', { status: 'ok' }), 2);
  assert.equal(after.value('longbow_wal_writes_total', { status: 'error' }), 0);
  const walBytes = after.value('longbow_wal_bytes_written_total') - before.value('longbow_wal_bytes_written_total');
  assert.ok(walBytes >= 1_000 * 8 * 4, `WAL bytes ${walBytes}`);
  assert.ok(after.value('longbow_wal_fsync_duration_seconds_count') > before.value('longbow_wal_fsync_duration_seconds_count'));
  assert.ok(after.value('longbow_wal_fsync_duration_seconds_bucket', { le: '+Inf' }) >= 1);
});

test('force_snapshot counts a snapshot and its duration', async () => {
  await running.client.doPut(pathDescriptor('snapped'), makeBatch(10).schema, [makeBatch(10)]);
  const before = await scrape();
  assert.equal(before.value('longbow_snapshot_operations_total', { status: 'ok' }), 0);
  assert.ok(before.has('longbow_snapshot_operations_total'), 'the series exist at zero before the first snapshot');
  const startedS = Date.now() / 1000;
  await running.client.doActionJson('force_snapshot');
  const after = await scrape();
  assert.equal(after.value('longbow_snapshot_operations_total', { status: 'ok' }), 1);
  assert.equal(after.value('longbow_snapshot_operations_total', { status: 'error' }), 0);
  assert.equal(after.value('longbow_snapshot_duration_seconds_count'), 1);
  assert.ok(after.value('longbow_snapshot_last_success_timestamp_seconds') >= Math.floor(startedS));
});

test('memory, dataset and row gauges read the store at scrape time', async () => {
  await running.client.doPut(pathDescriptor('gauged'), makeBatch(123).schema, [makeBatch(123)]);
  const [stats] = await running.client.doActionJson<{ current_memory: number; max_memory: number; datasets: number }>('get_stats');
  const now = await scrape();
  assert.equal(now.value('longbow_memory_used_bytes'), stats.current_memory);
  assert.equal(now.value('longbow_memory_limit_bytes'), stats.max_memory);
  assert.equal(now.value('longbow_datasets'), stats.datasets);
  assert.equal(now.value('longbow_rows', { dataset: 'gauged' }), 123);
  await running.client.doActionJson('drop_dataset', { name: 'gauged' });
  const later = await scrape();
  assert.ok(!later.samples.some((sample) => sample.name === 'longbow_rows' && sample.labels.dataset === 'gauged'));
  assert.equal(later.value('longbow_datasets'), stats.datasets - 1);
});

test('Node process metrics are included', async () => {
  const now = await scrape();
  for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
    assert.ok(now.has(name), `missing ${name}`);
  }
  const helpLines = now.text.split('\n').filter((line) => line.startsWith('# HELP '));
  const names = helpLines.map((line) => line.split(' ')[2]);
  assert.equal(new Set(names).size, names.length, 'no metric appears twice');
});

test('/healthz answers ok; unknown paths 404; other methods 405', async () => {
  const health = await fetch(`http://${running.metricsAddr}/healthz`);
  assert.equal(health.status, 200);
  const body = await health.json() as Record<string, unknown>;
  assert.equal(body.status, 'ok');
  assert.equal(typeof body.uptime_seconds, 'number');
  assert.equal((await fetch(`http://${running.metricsAddr}/nope`)).status, 404);
  assert.equal((await fetch(`http://${running.metricsAddr}/metrics?name[]=x`)).status, 200);
  const post = await fetch(`http://${running.metricsAddr}/metrics`, { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  const head = await fetch(`http://${running.metricsAddr}/healthz`, { method: 'HEAD' });
  assert.equal(head.status, 200);
});

test('/healthz says starting and stopping with 503', async () => {
  let state: HealthState = 'starting';
  const metrics = new LongbowMetrics({ currentMemoryBytes: 0, maxMemoryBytes: 0, list: () => [] }, { processMetrics: false });
  const server = new MetricsHttpServer({ metrics, logger: createLogger({ level: 'silent' }), health: () => ({ state }) });
  const port = await server.listen('127.0.0.1:0');
  try {
    for (const expected of ['starting', 'stopping'] as const) {
      state = expected;
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(response.status, 503);
      assert.deepEqual(await response.json(), { status: expected });
    }
    state = 'serving';
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  } finally {
    await server.close();
  }
});

test('metrics need no token when LONGBOW_AUTH_TOKEN is set; refused calls are counted', async () => {
  const secured = await startServer({ LONGBOW_AUTH_TOKEN: 'sesame' });
  const anonymous = new FlightClient(`grpc://${secured.dataAddr}`);
  try {
    await assert.rejects(anonymous.doActionJson('get_stats'));
    const now = await scrape(secured);
    assert.equal(now.value('longbow_flight_operations_total', { method: 'DoAction', status: 'UNAUTHENTICATED' }), 1);
    assert.equal((await fetch(`http://${secured.metricsAddr}/healthz`)).status, 200);
  } finally {
    anonymous.close();
    await secured.stop();
  }
});

test('each server has its own registry', async () => {
  const other = await startServer();
  try {
    const before = (await scrape(other)).value('longbow_flight_operations_total', { method: 'DoAction', status: 'OK' });
    await running.client.doActionJson('get_stats');
    const after = (await scrape(other)).value('longbow_flight_operations_total', { method: 'DoAction', status: 'OK' });
    assert.equal(after, before);
  } finally {
    await other.stop();
  }
});

test('a restart reports the WAL replay', async () => {
  const dataPath = mkdtempSync(join(tmpdir(), 'longbow-metrics-'));
  try {
    const first = await startServer({}, dataPath);
    await first.client.doPut(pathDescriptor('replayed'), makeBatch(10).schema, [makeBatch(10), makeBatch(10, 4, 10), makeBatch(10, 4, 20)]);
    first.client.close();
    await first.server.stop();
    const second = await startServer({}, dataPath);
    try {
      const now = await scrape(second);
      assert.equal(now.value('longbow_wal_replay_records'), 3);
      assert.ok(now.value('longbow_wal_replay_duration_seconds') > 0);
      assert.equal(now.value('longbow_rows', { dataset: 'replayed' }), 30);
    } finally {
      second.client.close();
      await second.server.stop();
    }
  } finally {
    rmSync(dataPath, { recursive: true, force: true });
  }
});

test('a busy metrics port makes start() fail', async () => {
  const dataPath = mkdtempSync(join(tmpdir(), 'longbow-metrics-'));
  try {
    await assert.rejects(startServer({ LONGBOW_METRICS_ADDR: running.metricsAddr }, dataPath), /EADDRINUSE/);
  } finally {
    rmSync(dataPath, { recursive: true, force: true });
  }
});

test('longbow_rows keeps the largest datasets and sums the rest under _other', async () => {
  const datasets = [
    { name: 'a', rows: 5 }, { name: 'b', rows: 50 }, { name: 'c', rows: 7 }, { name: 'd', rows: 50 }, { name: 'e', rows: 1 },
  ];
  assert.deepEqual([...boundedRows(datasets, 3)], [['b', 50], ['d', 50], ['c', 7], [OTHER_DATASETS_LABEL, 6]]);
  assert.deepEqual([...boundedRows(datasets, 10)].length, 5);
  assert.deepEqual([...boundedRows([], 3)], []);
  const metrics = new LongbowMetrics({ currentMemoryBytes: 10, maxMemoryBytes: 20, list: () => datasets }, { rowsDatasetsMax: 2, processMetrics: false });
  const now = new Scrape(await metrics.scrape());
  const rows = now.samples.filter((sample) => sample.name === 'longbow_rows');
  assert.deepEqual(rows.map((sample) => [sample.labels.dataset, sample.value]), [['b', 50], ['d', 50], [OTHER_DATASETS_LABEL, 13]]);
  assert.ok(!now.has('process_cpu_user_seconds_total'));
});

test('refused WAL appends count as errors', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'longbow-metrics-wal-'));
  const metrics = new LongbowMetrics({ currentMemoryBytes: 0, maxMemoryBytes: 0, list: () => [] }, { processMetrics: false });
  try {
    const writer = await WalWriter.open({ directory, nextSeq: 1, metrics });
    await writer.append(RecordType.put, 'x', new Uint8Array(100));
    await writer.close();
    await assert.rejects(writer.append(RecordType.put, 'x', new Uint8Array(1)));
    const now = new Scrape(await metrics.scrape());
    assert.equal(now.value('longbow_wal_writes_total', { status: 'ok' }), 1);
    assert.equal(now.value('longbow_wal_writes_total', { status: 'error' }), 1);
    assert.equal(now.value('longbow_wal_bytes_written_total'), writer.bytesWritten);
    assert.equal(now.value('longbow_wal_fsync_duration_seconds_count'), writer.fsyncs);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('docs/metrics.md lists every longbow metric and no other', async () => {
  const metrics = new LongbowMetrics({ currentMemoryBytes: 0, maxMemoryBytes: 0, list: () => [] }, { processMetrics: false });
  const registered = (await metrics.registry.getMetricsAsJSON()).map((metric) => metric.name).sort();
  const doc = readFileSync(new URL('../../../docs/metrics.md', import.meta.url), 'utf8');
  const documented = [...new Set([...doc.matchAll(/^\| `(longbow_[a-z_]+)` \|/gm)].map((match) => match[1]))].sort();
  assert.deepEqual(documented, registered);
});
