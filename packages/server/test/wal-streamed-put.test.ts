/**
 * Large DoPut batches written to the WAL while they arrive (LONGBOW_WAL_STREAM_SIZE): what is
 * acknowledged is what comes back after a restart, refused batches never come back, and small
 * batches and other transports take the ordinary path. Real server, real files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { FixedSizeList, Float32, RecordBatch, Schema, Struct, makeData, type Table } from 'apache-arrow';
import { FlightDataEncoder, GrpcStatus, contiguousBody, pathDescriptor, type FlightData } from '@longbow/flight';
import { makeBatch, startServer, vectorField, type RunningServer } from './helpers.ts';

const DIMENSIONS = 64;

async function metric(server: RunningServer, name: string): Promise<number> {
  const text = await (await fetch(`http://${server.metricsAddr}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

/** A digest of ids and vectors in row order: equal digests, equal data. */
function digest(table: Table): string {
  const hash = createHash('sha256');
  for (const batch of table.batches) {
    for (const id of batch.getChild('id')!.toArray() as BigInt64Array) hash.update(String(id));
    const vectors = batch.getChild('vector')!.data[0].children[0];
    const values = vectors.values as Float32Array;
    hash.update(Buffer.from(values.buffer, values.byteOffset + vectors.offset * 4, batch.numRows * DIMENSIONS * 4));
  }
  return hash.digest('hex');
}

async function readAll(server: RunningServer, dataset: string): Promise<Table> {
  return server.client.doGetTable(JSON.stringify({ dataset }));
}

async function restart(server: RunningServer, env: Record<string, string>): Promise<RunningServer> {
  server.client.close();
  await server.server.stop();
  return startServer(env, server.dataPath);
}

for (const transport of ['http2', 'node-http2', 'grpc-js'] as const) {
  test(`${transport}: a large batch is logged while it arrives and comes back after a restart; a refused one never does`, async () => {
    const env = { LONGBOW_WAL_STREAM_SIZE: '1MiB', LONGBOW_GRPC_TRANSPORT: transport, LONGBOW_VECTOR_INDEX: 'exact' };
    let server = await startServer(env);
    try {
      const big = makeBatch(12_000, DIMENSIONS, 0); // ~3 MB of vectors: streamed
      const small = makeBatch(50, DIMENSIONS, 12_000); // logged whole
      await server.client.doPut(pathDescriptor('docs'), big.schema, [big, small]);
      const other = makeBatch(9_000, DIMENSIONS, 0);
      await server.client.doPut(pathDescriptor('other'), other.schema, [other]);
      // A batch that does not fit the dataset's schema: refused, with the server still serving.
      const wrongDimensions = makeBatch(20_000, DIMENSIONS / 2, 50_000);
      await assert.rejects(server.client.doPut(pathDescriptor('docs'), wrongDimensions.schema, [wrongDimensions]), (error: { code?: number }) => {
        assert.equal(error.code, GrpcStatus.INVALID_ARGUMENT);
        return true;
      });
      const streamed = await metric(server, 'longbow_wal_streamed_puts_total');
      // grpc-js assembles messages itself: no watching, every batch is logged whole.
      assert.equal(streamed, transport === 'grpc-js' ? 0 : 2);
      const before = { docs: digest(await readAll(server, 'docs')), other: digest(await readAll(server, 'other')) };
      assert.equal((await readAll(server, 'docs')).numRows, 12_050);

      server = await restart(server, env);
      assert.equal((await readAll(server, 'docs')).numRows, 12_050);
      assert.equal(digest(await readAll(server, 'docs')), before.docs);
      assert.equal(digest(await readAll(server, 'other')), before.other);
      // And the log keeps working after the restart: more streamed puts (their batches live in
      // shared memory on the streaming transports), a snapshot of them, a search over them.
      const more = makeBatch(10_000, DIMENSIONS, 100_000);
      await server.client.doPut(pathDescriptor('docs'), more.schema, [more]);
      const expected = digest(await readAll(server, 'docs'));
      const [snapshot] = await server.client.doActionJson('force_snapshot') as { status: string }[];
      assert.equal(snapshot.status, 'ok');
      const query = Array.from(more.getChild('vector')!.get(5)!.toArray() as Float32Array);
      const hits = await server.client.doGetTable(JSON.stringify({ search: { dataset: 'docs', vector: query, k: 1 } }));
      assert.equal(Number(hits.getChild('id')!.get(0)), 100_005);
      server = await restart(server, env);
      assert.equal((await readAll(server, 'docs')).numRows, 22_050);
      assert.equal(digest(await readAll(server, 'docs')), expected);
    } finally {
      await server.stop();
    }
  });
}

test('with LONGBOW_WAL_STREAM_SIZE=0 nothing is streamed, and the data is the same', async () => {
  let server = await startServer({ LONGBOW_WAL_STREAM_SIZE: '0', LONGBOW_VECTOR_INDEX: 'exact' });
  try {
    const big = makeBatch(12_000, DIMENSIONS, 0);
    await server.client.doPut(pathDescriptor('docs'), big.schema, [big]);
    assert.equal(await metric(server, 'longbow_wal_streamed_puts_total'), 0);
    const before = digest(await readAll(server, 'docs'));
    server = await restart(server, { LONGBOW_WAL_STREAM_SIZE: '0' });
    assert.equal(digest(await readAll(server, 'docs')), before);
  } finally {
    await server.stop();
  }
});

test('a batch whose body is longer than its header says is logged whole (replay reads exactly bodyLength bytes)', async () => {
  let server = await startServer({ LONGBOW_WAL_STREAM_SIZE: '1MiB', LONGBOW_VECTOR_INDEX: 'exact' });
  try {
    const field = vectorField(DIMENSIONS);
    const rows = 8_000;
    const values = new Float32Array(rows * DIMENSIONS).map((_, index) => index % 1000);
    const child = makeData({ type: new Float32(), length: values.length, data: values });
    const vector = makeData({ type: field.type as FixedSizeList, length: rows, child });
    const batch = new RecordBatch(new Schema([field]), makeData({ type: new Struct([field]), length: rows, nullCount: 0, children: [vector] }));
    const encoder = new FlightDataEncoder(batch.schema);
    const messages: FlightData[] = [{ ...encoder.schemaMessage(), flightDescriptor: pathDescriptor('padded') }];
    for (const message of encoder.batchMessages(batch)) {
      const body = contiguousBody(message.dataBody);
      const longer = new Uint8Array(body.length + 64);
      longer.set(body);
      messages.push({ ...message, dataBody: longer });
    }
    for await (const result of server.client.doPutMessages(messages)) assert.ok(result);
    assert.equal(await metric(server, 'longbow_wal_streamed_puts_total'), 0);
    server = await restart(server, {});
    assert.equal((await readAll(server, 'padded')).numRows, rows);
  } finally {
    await server.stop();
  }
});
