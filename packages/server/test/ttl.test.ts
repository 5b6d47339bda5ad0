/** TTL eviction in-process: idle datasets are dropped durably, counted; used ones are kept. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { FlightError, GrpcStatus, pathDescriptor } from '@longbow/flight';
import { makeBatch, startServer } from './helpers.ts';

async function evictionsCounted(metricsAddr: string): Promise<number> {
  const text = await (await fetch(`http://${metricsAddr}/metrics`)).text();
  const match = /^longbow_evictions_total\{reason="ttl"\} (\d+)/m.exec(text);
  return match ? Number(match[1]) : 0;
}

test('an idle dataset is evicted after LONGBOW_TTL, a used one is kept, and the eviction survives a restart', async () => {
  let running = await startServer({ LONGBOW_TTL: '600ms' });
  try {
    for (const name of ['idle', 'busy']) await running.client.doPut(pathDescriptor(name), makeBatch(3).schema, [makeBatch(3)]);
    // Keep "busy" in use (a read every 150 ms) while "idle" is left alone.
    const deadline = Date.now() + 1500;
    while (Date.now() < deadline) {
      await running.client.doGetTable('busy');
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    await assert.rejects(running.client.doGetTable('idle'), (error: unknown) => error instanceof FlightError && error.code === GrpcStatus.NOT_FOUND);
    assert.equal((await running.client.doGetTable('busy')).numRows, 3);
    assert.equal(await evictionsCounted(running.metricsAddr), 1);

    // Durable: the drop went through the write-ahead log.
    running.client.close();
    await running.server.stop();
    running = await startServer({ LONGBOW_TTL: '0' }, running.dataPath);
    const [stats] = await running.client.doActionJson<{ dataset_stats: { name: string }[] }>('get_stats');
    assert.deepEqual(stats.dataset_stats.map((dataset) => dataset.name), ['busy']);
  } finally {
    running.client.close();
    await running.server.stop();
    rmSync(running.dataPath, { recursive: true, force: true });
  }
});
