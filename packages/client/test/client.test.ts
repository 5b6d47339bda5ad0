/** The Longbow client against a real server: puts of every input form, reads, listings, actions, errors. */
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FixedSizeList, RecordBatch, Table, Utf8, tableFromArrays, tableToIPC } from 'apache-arrow';
import { FlightClient, FlightError } from '@longbow/flight';
import { GrpcStatus, Longbow, LongbowError, type PutProgress } from '../src/index.ts';
import { makeBatch, startClientFixture, type ClientFixture } from './helpers.ts';

let fixture: ClientFixture;
let lb: Longbow;

before(async () => {
  fixture = await startClientFixture();
  lb = fixture.lb;
});
after(async () => fixture.stop());

function ids(table: Table): bigint[] {
  return Array.from(table.getChild('id')!.toArray() as BigInt64Array);
}

describe('put', () => {
  test('a Table, then a RecordBatch; the summary counts rows and batches', async () => {
    const first = await lb.put('tables', new Table([makeBatch(10, 4, 0), makeBatch(5, 4, 10)]));
    assert.deepEqual({ rows: first.rows, batches: first.batches, datasetRows: first.datasetRows }, { rows: 15, batches: 2, datasetRows: 15 });
    assert.ok(first.seq > 0);
    const second = await lb.put('tables', makeBatch(3, 4, 15));
    assert.equal(second.datasetRows, 18);
    assert.deepEqual(ids(await lb.get('tables')), Array.from({ length: 18 }, (_, i) => BigInt(i)));
  });

  test('plain objects: types inferred for a new dataset', async () => {
    await lb.put('objects', [
      { id: 1, vector: [1, 2, 3], label: 'a', price: 1.5, ok: true },
      { id: 2, vector: [4, 5, 6], label: null, price: 2, ok: false },
    ], { metric: 'cosine' });
    const info = await lb.info('objects');
    assert.equal(info.rows, 2);
    assert.equal(info.metric, 'cosine');
    assert.deepEqual(info.vector && { column: info.vector.column, dimensions: info.vector.dimensions }, { column: 'vector', dimensions: 3 });
    assert.deepEqual(info.schema.fields.map((field) => `${field.name}:${field.type}`),
      ['id:Int64', 'vector:FixedSizeList[3]<Float32>', 'label:Utf8', 'price:Float64', 'ok:Bool']);
    const table = await lb.get('objects');
    assert.deepEqual(Array.from(table.getChild('vector')!.get(1)!.toArray() as Float32Array), [4, 5, 6]);
    assert.equal(table.getChild('label')!.get(1), null);
  });

  test('plain objects into an existing dataset follow its schema (int64 id, nullable label)', async () => {
    await lb.put('existing', makeBatch(2, 4, 0));
    // `label` absent and `id` a plain number: typed to the dataset's Int64 / Utf8 columns.
    await lb.put('existing', [{ id: 7, vector: [0, 1, 2, 3] }]);
    const table = await lb.get('existing');
    assert.deepEqual(ids(table), [0n, 1n, 7n]);
    assert.equal(table.getChild('label')!.get(2), null);
    await assert.rejects(lb.put('existing', [{ id: 8, vector: [1, 2] }]), /column "vector", row 0: an array of 2 is not a list of 4 numbers/);
  });

  test('columns with ids and a flat Float32Array of vectors (dimension from the ids)', async () => {
    const vectors = new Float32Array(4 * 3).map((_, i) => i);
    const summary = await lb.put('flat', { ids: BigInt64Array.from([10n, 11n, 12n, 13n]), vectors, tag: ['a', 'b', 'c', 'd'] });
    assert.equal(summary.rows, 4);
    const table = await lb.get('flat');
    assert.ok(table.schema.fields[1].type instanceof FixedSizeList);
    assert.equal((table.schema.fields[1].type as FixedSizeList).listSize, 3);
    assert.deepEqual(Array.from(table.getChild('vector')!.get(3)!.toArray() as Float32Array), [9, 10, 11]);
    assert.deepEqual(table.getChild('tag')!.toArray(), ['a', 'b', 'c', 'd']);
  });

  test('columns with an array of vectors; a flat array without ids needs dim', async () => {
    await lb.put('vector-list', { ids: [1, 2], vectors: [new Float32Array([1, 2]), [3, 4]] });
    assert.equal((await lb.info('vector-list')).vector?.dimensions, 2);
    await assert.rejects(lb.put('no-dim', { vectors: new Float32Array(6) }), /needs the dimension/);
    await lb.put('with-dim', { vectors: new Float32Array(6) }, { dim: 3 });
    assert.equal((await lb.info('with-dim')).rows, 2);
  });

  test('large batches are split under batchBytesMax, with progress after each acknowledgement', async () => {
    const batch = makeBatch(1000, 64);
    const seen: PutProgress[] = [];
    const summary = await lb.put('split', batch, { batchBytesMax: 64 * 1024, onProgress: (progress) => seen.push(progress) });
    assert.ok(summary.batches >= 4, `expected several batches, got ${summary.batches}`);
    assert.equal(summary.rows, 1000);
    assert.equal(seen.length, summary.batches);
    assert.deepEqual(seen.map((p) => p.rowsAcknowledged), [...seen.map((p) => p.rowsAcknowledged)].sort((a, b) => a - b));
    assert.equal(seen.at(-1)!.rowsAcknowledged, 1000);
    assert.equal(seen[0].rowsTotal, 1000);
    const back = await lb.get('split');
    assert.deepEqual(ids(back), Array.from({ length: 1000 }, (_, i) => BigInt(i)));
    assert.deepEqual(Array.from(back.getChild('vector')!.get(999)!.toArray() as Float32Array),
      Array.from(batch.getChild('vector')!.get(999)!.toArray() as Float32Array));
  });

  test('an async stream of batches is sent as it is produced', async () => {
    let produced = 0;
    async function* batches(): AsyncGenerator<RecordBatch> {
      for (let i = 0; i < 5; i++) {
        produced++;
        yield makeBatch(100, 4, i * 100);
      }
    }
    const summary = await lb.put('stream', batches());
    assert.equal(produced, 5);
    assert.deepEqual({ rows: summary.rows, batches: summary.batches }, { rows: 500, batches: 5 });
  });

  test('an empty Table creates an empty dataset with its schema', async () => {
    const schema = makeBatch(1).schema;
    const summary = await lb.put('empty', new Table(schema));
    assert.equal(summary.rows, 0);
    const info = await lb.info('empty');
    assert.equal(info.rows, 0);
    assert.equal(info.schema.fields.length, 3);
  });

  test('server refusals are LongbowErrors with the gRPC code and the server code', async () => {
    const floatIds = tableFromArrays({ id: Float32Array.from([1]) });
    await assert.rejects(lb.put('float-ids', floatIds), (error: unknown) => {
      assert.ok(error instanceof LongbowError);
      assert.ok(error instanceof FlightError);
      assert.equal(error.code, GrpcStatus.INVALID_ARGUMENT);
      assert.equal(error.status, 'INVALID_ARGUMENT');
      assert.equal(error.errorCode, 'INVALID_SCHEMA');
      return true;
    });
    await lb.put('mismatch', makeBatch(2));
    await assert.rejects(lb.put('mismatch', tableFromArrays({ other: Float64Array.from([1]) })),
      (error: unknown) => error instanceof LongbowError && error.errorCode === 'SCHEMA_MISMATCH');
  });

  test('bad input is a TypeError before anything is sent', async () => {
    await assert.rejects(lb.put('bad', []), TypeError);
    await assert.rejects(lb.put('bad', { ids: [1, 2], tag: ['a'] }), /columns differ in length/);
    await assert.rejects(lb.put('bad', [{ vector: [1, 2] }, { vector: [1] }]), /arrays differ in length/);
    await assert.rejects(lb.info('bad'), (error: unknown) => error instanceof LongbowError && error.errorCode === 'DATASET_NOT_FOUND');
  });
});

describe('get', () => {
  before(async () => {
    await lb.put('read', new Table([makeBatch(50, 4, 0), makeBatch(50, 4, 50)]));
  });

  test('filters, columns and limit', async () => {
    const table = await lb.get('read', { filters: [{ field: 'id', op: '>=', value: 90 }], columns: ['label', 'id'], limit: 5 });
    assert.deepEqual(table.schema.fields.map((field) => field.name), ['label', 'id']);
    assert.deepEqual(ids(table), [90n, 91n, 92n, 93n, 94n]);
    assert.equal(table.getChild('label')!.get(0), null);
    const byObject = await lb.get('read', { filters: { label: 'row-3' } });
    assert.deepEqual(ids(byObject), [3n]);
    const big = await lb.get('read', { filters: [{ field: 'id', op: '<', value: 2n }] });
    assert.deepEqual(ids(big), [0n, 1n]);
  });

  test('iterating yields record batches; limit 0 keeps the schema', async () => {
    let rows = 0;
    let batches = 0;
    for await (const batch of lb.get('read')) {
      assert.ok(batch instanceof RecordBatch);
      rows += batch.numRows;
      batches++;
    }
    assert.deepEqual({ rows, batches }, { rows: 100, batches: 2 });
    const empty = await lb.get('read', { limit: 0 });
    assert.equal(empty.numRows, 0);
    assert.deepEqual(empty.schema.fields.map((field) => field.name), ['id', 'vector', 'label']);
  });

  test('an unknown dataset or column is a LongbowError, awaited or iterated', async () => {
    await assert.rejects(async () => lb.get('nope'), (error: unknown) => error instanceof LongbowError && error.code === GrpcStatus.NOT_FOUND);
    await assert.rejects(async () => {
      for await (const _ of lb.get('read', { columns: ['nope'] })) void _;
    }, (error: unknown) => error instanceof LongbowError && error.errorCode === 'UNKNOWN_COLUMN');
  });
});

describe('datasets and actions', () => {
  test('list, info, stats, drop', async () => {
    await lb.put('ls-a', makeBatch(3));
    await lb.put('ls-b', makeBatch(4));
    const names = (await lb.list()).map((info) => info.name);
    assert.ok(names.includes('ls-a') && names.includes('ls-b'));
    assert.deepEqual(names, [...names].sort());
    const filtered = await lb.list({ nameContains: 'ls-', filters: [{ field: 'rows', op: '>', value: 3 }] });
    assert.deepEqual(filtered.map((info) => [info.name, info.rows]), [['ls-b', 4]]);
    const info = await lb.info('ls-a');
    assert.equal(info.rows, 3);
    assert.ok(info.bytes > 0);
    assert.equal(String(info.schema.fields[0].type), 'Int64');
    const stats = await lb.stats();
    assert.ok(stats.datasets >= 2);
    assert.ok(stats.dataset_stats?.some((entry) => entry.name === 'ls-a' && entry.rows === 3));
    assert.equal((await lb.drop('ls-a')).status, 'ok');
    await assert.rejects(lb.drop('ls-a'), (error: unknown) => error instanceof LongbowError && error.errorCode === 'DATASET_NOT_FOUND');
  });

  test('snapshot, actions, schema, the raw Flight client', async () => {
    await lb.put('snap', makeBatch(2));
    const snapshot = await lb.snapshot();
    assert.equal(snapshot.status, 'ok');
    const types = (await lb.actions()).map((action) => action.type);
    assert.ok(types.includes('get_stats') && types.includes('force_snapshot'));
    assert.ok((await lb.schema('snap')).fields[2].type instanceof Utf8);
    assert.ok(lb.flight instanceof FlightClient);
    assert.equal((await lb.flight.doGetTable('snap')).numRows, 2);
    await assert.rejects(lb.action('no_such_action'), (error: unknown) => error instanceof LongbowError && error.code === GrpcStatus.UNIMPLEMENTED);
  });
});

describe('action: the call is read to its end', () => {
  /** A Flight client whose DoAction yields `results`, then fails with `failure` if given. */
  function fakeFlight(results: string[], failure?: FlightError) {
    const seen = { completed: false, stoppedEarly: false };
    const flight = {
      async *doAction() {
        let done = false;
        try {
          for (const body of results) yield { body: Buffer.from(body, 'latin1') };
          if (failure) throw failure;
          done = true;
        } finally {
          if (done) seen.completed = true;
          else if (!failure) seen.stoppedEarly = true;
        }
      },
    };
    return { client: new Longbow(flight as unknown as FlightClient), seen };
  }

  test('the first result is returned after the rest is read (no early stop, so no cancelled call)', async () => {
    const { client, seen } = fakeFlight(['{"a":1}', '{"a":2}']);
    assert.deepEqual(await client.action('x'), { a: 1 });
    assert.deepEqual(seen, { completed: true, stoppedEarly: false });
  });

  test('an error after the first result rejects', async () => {
    const { client } = fakeFlight(['{"a":1}'], new FlightError(GrpcStatus.INTERNAL, 'failed late'));
    await assert.rejects(client.action('x'), (error: unknown) => error instanceof LongbowError && error.code === GrpcStatus.INTERNAL && /failed late/.test(error.message));
  });

  test('searchById reads its call to the end too', async () => {
    const ipc = (id: number) => Buffer.from(tableToIPC(tableFromArrays({ id: Int32Array.of(id) }))).toString('latin1');
    const { client, seen } = fakeFlight([ipc(7), ipc(8)]);
    const found = await client.searchById('d', 1);
    assert.deepEqual([...found.getChild('id')!.toArray()], [7]);
    assert.deepEqual(seen, { completed: true, stoppedEarly: false });
  });

  test('a signal aborted before the call cancels it (actions, unary calls, reads)', async () => {
    const signal = AbortSignal.abort();
    const cancelled = (error: unknown) => error instanceof LongbowError && error.code === GrpcStatus.CANCELLED;
    await assert.rejects(lb.stats({ signal }), cancelled);
    await assert.rejects(lb.info('tables', { signal }), cancelled);
    await assert.rejects(async () => lb.get('tables', { signal }), cancelled);
  });

  test('no result at all is an INTERNAL LongbowError', async () => {
    const { client } = fakeFlight([]);
    await assert.rejects(client.action('x'), (error: unknown) => error instanceof LongbowError && error.code === GrpcStatus.INTERNAL && /returned no result/.test(error.message));
  });
});

describe('connect', () => {
  test('token: checked by connect; refused without it', async () => {
    const secured = await startClientFixture({ LONGBOW_AUTH_TOKEN: 's3cret' });
    try {
      await secured.lb.put('auth', makeBatch(1));
      assert.equal((await secured.lb.info('auth')).rows, 1);
      await assert.rejects(Longbow.connect(secured.url, { token: 'wrong' }),
        (error: unknown) => error instanceof LongbowError && error.code === GrpcStatus.UNAUTHENTICATED);
      const anonymous = await Longbow.connect(secured.url, { skipHandshake: true });
      await assert.rejects(anonymous.stats(), (error: unknown) => error instanceof LongbowError && error.status === 'UNAUTHENTICATED');
      anonymous.close();
    } finally {
      await secured.stop();
    }
  });

  test('an unreachable server or a bad URL fails with a LongbowError', async () => {
    await assert.rejects(Longbow.connect('grpc://127.0.0.1:1', { connectTimeoutMs: 2000 }),
      (error: unknown) => error instanceof LongbowError && error.code === GrpcStatus.UNAVAILABLE);
    await assert.rejects(Longbow.connect('http://x/y/z'), (error: unknown) => error instanceof LongbowError && error.code === GrpcStatus.INVALID_ARGUMENT);
  });
});

test('vector type of inferred vector columns is FixedSizeList<Float32>', async () => {
  await lb.put('typed', [{ embedding: [0.5, 0.25] }]);
  const field = (await lb.schema('typed')).fields[0];
  assert.equal(String(field.type), 'FixedSizeList[2]<Float32>');
});

describe('record batch transport', () => {
  before(async () => {
    await lb.put('big', new Table([makeBatch(20_000, 64)]));
  });

  test('large batches arrive intact both ways, over every data transport (payload read straight into place)', async () => {
    // 24 MB of vectors with no pattern a misplaced or missed chunk could keep: any byte out of
    // place changes the digest. Read whole, and batch by batch with a slow reader (backpressure).
    const batch = makeBatch(48_000, 128);
    const vectors = batch.getChild('vector')!.data[0].children[0].values as Float32Array;
    let seed = 7;
    for (let i = 0; i < vectors.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      vectors[i] = seed / 2 ** 32;
    }
    const digest = (table: Table) => {
      const hash = createHash('sha256');
      for (const data of table.getChild('vector')!.data) {
        const values = data.children[0].values as Float32Array;
        hash.update(new Uint8Array(values.buffer, values.byteOffset + data.offset * 128 * 4, data.length * 128 * 4));
      }
      return hash.digest('hex');
    };
    const expected = digest(new Table([batch]));
    for (const dataTransport of ['http2', 'node-http2'] as const) {
      const client = await Longbow.connect(fixture.url, { dataTransport });
      try {
        const name = `intact-${dataTransport}`;
        await client.put(name, batch, { batchBytesMax: 8 * 1024 * 1024 });
        assert.equal(digest(await client.get(name)), expected, `${dataTransport}: a whole read`);
        const batches: RecordBatch[] = [];
        for await (const received of client.get(name)) {
          batches.push(received);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        assert.equal(digest(new Table(batches)), expected, `${dataTransport}: a slow read`);
      } finally {
        client.close();
      }
    }
  });

  test('the grpc-js data transport gives the same results', async () => {
    const viaGrpcJs = await Longbow.connect(fixture.url, { dataTransport: 'grpc-js' });
    try {
      await viaGrpcJs.put('via-grpc-js', makeBatch(300, 8), { batchBytesMax: 4096 });
      assert.deepEqual(ids(await viaGrpcJs.get('via-grpc-js')), ids(await lb.get('via-grpc-js')));
      assert.equal((await viaGrpcJs.get('big')).numRows, 20_000);
      await assert.rejects(async () => viaGrpcJs.get('nope'), (error: unknown) => error instanceof LongbowError && error.errorCode === 'DATASET_NOT_FOUND');
    } finally {
      viaGrpcJs.close();
    }
  });

  test('a cancelled or late read is a LongbowError (CANCELLED, DEADLINE_EXCEEDED); stopping early is fine', async () => {
    const controller = new AbortController();
    await assert.rejects(async () => {
      for await (const _ of lb.get('big', { signal: controller.signal })) controller.abort();
    }, (error: unknown) => error instanceof LongbowError && error.code === GrpcStatus.CANCELLED);
    await assert.rejects(async () => lb.get('big', { timeoutMs: 1 }),
      (error: unknown) => error instanceof LongbowError && error.code === GrpcStatus.DEADLINE_EXCEEDED);
    for await (const batch of lb.get('big')) {
      assert.ok(batch.numRows > 0);
      break;
    }
    assert.equal((await lb.get('big', { limit: 5 })).numRows, 5);
  });

  test('a failing input stream stops the put with its own error; batches sent before it stay stored', async () => {
    async function* failing(): AsyncGenerator<RecordBatch> {
      yield makeBatch(10);
      await new Promise((resolve) => setTimeout(resolve, 50));
      throw new TypeError('input broke');
    }
    await assert.rejects(lb.put('half', failing()), /input broke/);
    assert.equal((await lb.info('half')).rows, 10);
  });

  test('a refusal in the middle of a large put ends it at once with the server error', async () => {
    const small = await startClientFixture({ LONGBOW_MAX_MEMORY: '1MiB' });
    try {
      const acknowledged: number[] = [];
      await assert.rejects(small.lb.put('full', makeBatch(20_000, 64), {
        batchBytesMax: 64 * 1024, onProgress: (progress) => acknowledged.push(progress.rowsAcknowledged),
      }), (error: unknown) => error instanceof LongbowError && error.code === GrpcStatus.RESOURCE_EXHAUSTED && error.errorCode === 'MEMORY_LIMIT');
      assert.ok(acknowledged.length > 0);
      assert.equal((await small.lb.info('full')).rows, acknowledged.at(-1));
    } finally {
      await small.stop();
    }
  });
});
