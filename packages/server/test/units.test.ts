import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration, parseSize } from '../src/config/units.ts';
import { ConfigError, loadConfig } from '../src/config/config.ts';

test('sizes parse with and without units', () => {
  assert.equal(parseSize('1048576'), 1048576);
  assert.equal(parseSize('512MiB'), 512 * 2 ** 20);
  assert.equal(parseSize('2GB'), 2e9);
  assert.equal(parseSize('1.5KiB'), 1536);
  assert.equal(parseSize('0'), 0);
  assert.equal(parseSize('12 parsecs'), undefined);
  assert.equal(parseSize('-1'), undefined);
  assert.equal(parseSize(''), undefined);
});

test('Go-style durations parse and format', () => {
  assert.equal(parseDuration('300ms'), 300);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('5'), undefined);
  assert.equal(parseDuration('5x'), undefined);
  assert.equal(parseDuration('1h 30m'), undefined);
  assert.equal(formatDuration(300_000), '5m');
  assert.equal(formatDuration(5_400_000), '1h30m');
  assert.equal(formatDuration(300), '300ms');
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(90_500), '1m30.5s');
  assert.equal(formatDuration(3_600_000 + 1000), '1h1s');
  for (const ms of [1, 999, 1000, 61_000, 3_600_000, 5_400_250]) assert.equal(parseDuration(formatDuration(ms)), ms);
});

test('config has defaults and names the bad variable', () => {
  const config = loadConfig({});
  assert.equal(config.listenAddr, '0.0.0.0:3000');
  assert.equal(config.metaAddr, '0.0.0.0:3001');
  assert.equal(config.dataPath, './data');
  assert.equal(config.maxMemoryBytes, 2 ** 30);
  assert.equal(config.logLevel, 'info');
  assert.equal(config.authToken, undefined);
  assert.equal(config.grpcMessageBytesMax, -1);
  assert.equal(loadConfig({ LONGBOW_MAX_MEMORY: '2GiB', LONGBOW_LOG_LEVEL: 'DEBUG' }).maxMemoryBytes, 2 * 2 ** 30);
  assert.throws(() => loadConfig({ LONGBOW_MAX_MEMORY: 'lots' }), (error: unknown) =>
    error instanceof ConfigError && error.variable === 'LONGBOW_MAX_MEMORY' && /512MiB/.test(error.message));
  assert.throws(() => loadConfig({ LONGBOW_LISTEN_ADDR: 'nowhere' }), /LONGBOW_LISTEN_ADDR/);
  assert.throws(() => loadConfig({ LONGBOW_LOG_LEVEL: 'chatty' }), /LONGBOW_LOG_LEVEL/);
  assert.equal(config.hnswStorage, 'i8');
  assert.equal(loadConfig({ LONGBOW_HNSW_STORAGE: 'bf16' }).hnswStorage, 'bf16');
  assert.throws(() => loadConfig({ LONGBOW_HNSW_STORAGE: 'int4' }), (error: unknown) =>
    error instanceof ConfigError && error.variable === 'LONGBOW_HNSW_STORAGE' && /'f32' \| 'bf16' \| 'f16' \| 'i8'|f32.*bf16.*f16.*i8/.test(error.message));
});
