/** Edge cases of search and snapshots found in review: each once broke the server. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Field, FixedSizeList, Float32, Int64, RecordBatch, Schema, Struct, makeData } from 'apache-arrow';
import { pathDescriptor } from '@longbow/flight';
import { startServer } from './helpers.ts';

function idsBatch(ids: number[]): RecordBatch {
  const schema = new Schema([new Field('id', new Int64(), false)]);
  return new RecordBatch(schema, makeData({
    type: new Struct(schema.fields), length: ids.length, nullCount: 0,
    children: [makeData({ type: new Int64(), length: ids.length, data: BigInt64Array.from(ids, BigInt) })],
  }));
}

function withVectors(ids: number[], vectors: number[][]): RecordBatch {
  const fields = [new Field('id', new Int64(), false), new Field('vector', new FixedSizeList(2, new Field('item', new Float32(), false)), true)];
  const schema = new Schema(fields);
  return new RecordBatch(schema, makeData({
    type: new Struct(fields), length: ids.length, nullCount: 0, children: [
      makeData({ type: new Int64(), length: ids.length, data: BigInt64Array.from(ids, BigInt) }),
      makeData({ type: fields[1].type as FixedSizeList, length: ids.length, child: makeData({ type: new Float32(), length: ids.length * 2, data: Float32Array.from(vectors.flat()) }) }),
    ],
  }));
}

test('a vector column added by schema evolution: rows before it never match, the dataset stays writable and restarts', async () => {
  let running = await startServer();
  try {
    await running.client.doPut(pathDescriptor('grow'), idsBatch([1, 2]).schema, [idsBatch([1, 2])]);
    const later = withVectors([3, 4], [[0, 0], [5, 5]]);
    await running.client.doPut(pathDescriptor('grow'), later.schema, [later]);
    const search = () => running.client.doGetTable(JSON.stringify({ search: { dataset: 'grow', vector: [0, 0], k: 10 } }));
    assert.deepEqual(Array.from((await search()).getChild('id')!.toArray() as BigInt64Array, Number), [3, 4]);
    running.client.close();
    await running.server.stop();
    running = await startServer({}, running.dataPath);
    assert.deepEqual(Array.from((await search()).getChild('id')!.toArray() as BigInt64Array, Number), [3, 4]);
  } finally {
    running.client.close();
    await running.server.stop();
    rmSync(running.dataPath, { recursive: true, force: true });
  }
});

test('two snapshots at the same sequence keep the one in force, and the data survives a restart', async () => {
  let running = await startServer();
  try {
    const batch = withVectors([1], [[1, 1]]);
    await running.client.doPut(pathDescriptor('idle'), batch.schema, [batch]);
    const [first] = await running.client.doActionJson<{ id: string }>('force_snapshot');
    const [second] = await running.client.doActionJson<{ id: string }>('force_snapshot');
    assert.equal(second.id, first.id);
    running.client.close();
    await running.server.stop();
    running = await startServer({}, running.dataPath);
    assert.equal((await running.client.doGetTable('idle')).numRows, 1);
  } finally {
    running.client.close();
    await running.server.stop();
    rmSync(running.dataPath, { recursive: true, force: true });
  }
});
