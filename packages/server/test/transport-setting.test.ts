/** LONGBOW_GRPC_TRANSPORT: each transport serves the same protocol on both ports; a bad value is refused. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlightClient, pathDescriptor } from '@longbow/flight';
import { ConfigError, loadConfig } from '../src/config/config.ts';
import { makeBatch, startServer } from './helpers.ts';

for (const transport of ['http2', 'node-http2', 'grpc-js']) {
  test(`LONGBOW_GRPC_TRANSPORT=${transport}: put, get and an action on the data port and the meta port`, async () => {
    const server = await startServer({ LONGBOW_GRPC_TRANSPORT: transport });
    const meta = new FlightClient(`grpc://${server.metaAddr}`);
    try {
      const batch = makeBatch(2_000, 16);
      const acks = await server.client.doPut(pathDescriptor('t'), batch.schema, [batch]);
      assert.equal(acks.length, 1);
      const table = await meta.doGetTable('t');
      assert.equal(table.numRows, 2_000);
      assert.deepEqual(Array.from(table.getChild('id')!.toArray() as BigInt64Array).slice(0, 3), [0n, 1n, 2n]);
      const [stats] = await meta.doActionJson<{ datasets: number }>('get_stats');
      assert.equal(stats.datasets, 1);
    } finally {
      meta.close();
      await server.stop();
    }
  });
}

test('an unknown LONGBOW_GRPC_TRANSPORT is a configuration error naming the variable', () => {
  assert.throws(() => loadConfig({ LONGBOW_GRPC_TRANSPORT: 'quic' }),
    (error: unknown) => error instanceof ConfigError && error.variable === 'LONGBOW_GRPC_TRANSPORT');
});
