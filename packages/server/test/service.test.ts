import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Field, RecordBatch, Schema, Struct, Utf8, makeData, vectorFromArray } from 'apache-arrow';
import {
  FlightClient, FlightDataEncoder, FlightError, GrpcStatus, commandDescriptor, pathDescriptor, type FlightData,
} from '@longbow/flight';
import { makeBatch, startServer, type RunningServer } from './helpers.ts';

let running: RunningServer;
let client: FlightClient;
before(async () => { running = await startServer(); client = running.client; });
after(async () => { await running.stop(); });

async function put(name: string, batches: RecordBatch[], target = client) {
  const results = await target.doPut(pathDescriptor(name), batches[0].schema, batches);
  return results.map((result) => JSON.parse(Buffer.from(result.appMetadata).toString('utf8')));
}

async function rejects(promise: Promise<unknown>, code: GrpcStatus, prefix: string, errorCode?: string) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof FlightError, `expected FlightError, got ${String(error)}`);
    assert.equal(GrpcStatus[error.code], GrpcStatus[code], error.message);
    assert.ok(error.message.startsWith(prefix), `"${error.message}" should start with "${prefix}"`);
    if (errorCode) assert.equal(error.errorCode, errorCode);
    return true;
  });
}

async function stats() {
  const [reply] = await client.doActionJson<Record<string, unknown>>('get_stats');
  return reply;
}

test('DoPut acknowledges each batch with dataset, rows, total_rows and seq', async () => {
  const acks = await put('acks', [makeBatch(3), makeBatch(5, 4, 3)]);
  assert.equal(acks.length, 2);
  assert.deepEqual({ ...acks[0], seq: 0 }, { dataset: 'acks', rows: 3, total_rows: 3, seq: 0 });
  assert.deepEqual({ ...acks[1], seq: 0 }, { dataset: 'acks', rows: 5, total_rows: 8, seq: 0 });
  assert.ok(acks[1].seq > acks[0].seq);
  const table = await client.doGetTable('acks');
  assert.deepEqual([...table.getChild('id')!].map(Number), [0, 1, 2, 3, 4, 5, 6, 7]);
});

test('the meta port serves the same datasets', async () => {
  await put('both-ports', [makeBatch(4)]);
  const meta = new FlightClient(`grpc://${running.metaAddr}`);
  try {
    assert.equal((await meta.doGetTable('both-ports')).numRows, 4);
  } finally {
    meta.close();
  }
});

test('GetFlightInfo, PollFlightInfo, GetSchema and ListFlights describe datasets', async () => {
  await put('info-a', [makeBatch(7)]);
  await put('info-bb', [makeBatch(70)]);
  const info = await client.getFlightInfo(pathDescriptor('info-a'));
  assert.equal(info.totalRecords, 7);
  assert.ok(info.totalBytes > 7 * 4 * 4);
  assert.deepEqual(info.flightDescriptor?.path, ['info-a']);
  assert.equal(Buffer.from(info.endpoint[0].ticket.ticket).toString(), 'info-a');
  const poll = await client.pollFlightInfo(pathDescriptor('info-a'));
  assert.equal(poll.info?.totalRecords, 7);
  assert.equal(poll.progress, 1);
  const schema = await client.getSchema(pathDescriptor('info-a'));
  assert.deepEqual(schema.fields.map((field) => field.name), ['id', 'vector', 'label']);
  const names = async (criteria: unknown) => {
    const out: string[] = [];
    const expression = Buffer.from(criteria === undefined ? '' : JSON.stringify(criteria));
    for await (const flight of client.listFlights({ expression })) out.push(flight.flightDescriptor!.path[0]);
    return out.filter((name) => name.startsWith('info-'));
  };
  assert.deepEqual(await names(undefined), ['info-a', 'info-bb']);
  assert.deepEqual(await names({ filters: [{ field: 'rows', op: '>', value: 10 }] }), ['info-bb']);
  assert.deepEqual(await names({ filters: [{ field: 'name', op: 'contains', value: 'bb' }] }), ['info-bb']);
  assert.deepEqual(await names({ filters: [{ field: 'name', op: '!=', value: 'info-bb' }, { field: 'rows', op: '<=', value: 7 }] }), ['info-a']);
  await rejects(names({ filters: [{ field: 'size', op: '=', value: 1 }] }), GrpcStatus.INVALID_ARGUMENT, 'invalid criteria:', 'INVALID_CRITERIA');
  await rejects(names({ filters: [{ field: 'name', op: '>', value: 'a' }] }), GrpcStatus.INVALID_ARGUMENT, 'invalid criteria:');
  await rejects(names({ nope: 1 }), GrpcStatus.INVALID_ARGUMENT, 'invalid criteria:');
  await rejects((async () => { for await (const _ of client.listFlights({ expression: Buffer.from('{') })) void _; })(),
    GrpcStatus.INVALID_ARGUMENT, 'invalid criteria:');
  for (const call of [client.getFlightInfo(pathDescriptor('nope')), client.getSchema(pathDescriptor('nope')), client.pollFlightInfo(pathDescriptor('nope'))]) {
    await rejects(call, GrpcStatus.NOT_FOUND, 'dataset not found: nope', 'DATASET_NOT_FOUND');
  }
  await rejects(client.getFlightInfo(commandDescriptor('x')), GrpcStatus.INVALID_ARGUMENT, 'invalid descriptor:', 'INVALID_DESCRIPTOR');
});

test('schema evolution: new nullable columns at the end; old rows read back with nulls', async () => {
  const first = makeBatch(2);
  await put('evolve', [first]);
  const fields = [...first.schema.fields, new Field('note', new Utf8(), true)];
  const second = makeBatch(2, 4, 2); // new ids: a put of ids 0 and 1 again would replace the first rows (upsert)
  const children = [...second.data.children, vectorFromArray(['a', 'b'], new Utf8()).data[0]];
  const evolved = new RecordBatch(new Schema(fields), makeData({ type: new Struct(fields), length: 2, nullCount: 0, children }));
  await put('evolve', [evolved]);
  const table = await client.doGetTable('evolve');
  assert.deepEqual([...table.getChild('note')!], [null, null, 'a', 'b']);
  await rejects(put('evolve', [makeBatch(1, 4, 9)]), GrpcStatus.INVALID_ARGUMENT, 'schema mismatch: missing column(s) "note"');
  const mismatch = makeBatch(2, 8);
  await rejects(put('evolve', [mismatch]), GrpcStatus.INVALID_ARGUMENT, 'schema mismatch:', 'SCHEMA_MISMATCH');
  assert.equal((await client.doGetTable('evolve')).numRows, 4);
});

test('invalid schemas, descriptors and streams are INVALID_ARGUMENT', async () => {
  const badVector = new RecordBatch({ vector: vectorFromArray(['a'], new Utf8()).data[0] });
  await rejects(put('bad-vector', [badVector]), GrpcStatus.INVALID_ARGUMENT, 'invalid schema:', 'INVALID_SCHEMA');
  await rejects(put('', [makeBatch(1)]), GrpcStatus.INVALID_ARGUMENT, 'invalid descriptor:', 'INVALID_DESCRIPTOR');
  await rejects(put('bad\u0001name', [makeBatch(1)]), GrpcStatus.INVALID_ARGUMENT, 'invalid dataset name:', 'INVALID_DATASET_NAME');
  const batch = makeBatch(1);
  const encoder = new FlightDataEncoder(batch.schema);
  const drain = async (messages: FlightData[]) => { for await (const _ of client.doPutMessages(messages)) void _; };
  await rejects(drain([encoder.schemaMessage()]), GrpcStatus.INVALID_ARGUMENT, 'invalid descriptor:');
  await rejects(drain([encoder.schemaMessage(commandDescriptor('SELECT 1'))]), GrpcStatus.INVALID_ARGUMENT, 'invalid descriptor:');
  await rejects(drain(new FlightDataEncoder(batch.schema).batchMessages(batch)), GrpcStatus.INVALID_ARGUMENT, 'malformed FlightData:');
  await rejects(drain([]), GrpcStatus.INVALID_ARGUMENT, 'missing schema:', 'MISSING_SCHEMA');
  const garbage: FlightData = { dataHeader: Buffer.from('not a flatbuffer at all'), appMetadata: new Uint8Array(), dataBody: new Uint8Array(8) };
  await rejects(drain([encoder.schemaMessage(pathDescriptor('garbage')), garbage]), GrpcStatus.INVALID_ARGUMENT, 'malformed FlightData:');
  assert.ok((await stats()).datasets !== undefined, 'server still serves');
});

test('DoGet tickets: raw name, JSON with filters, columns and limit; errors', async () => {
  await put('tickets', [makeBatch(10)]);
  const ids = async (ticket: unknown) => [...(await client.doGetTable(JSON.stringify(ticket))).getChild('id')!].map(Number);
  assert.deepEqual(await ids({ name: 'tickets', limit: 3 }), [0, 1, 2]);
  assert.deepEqual(await ids({ dataset: 'tickets', filters: [{ field: 'id', op: '>=', value: 8 }] }), [8, 9]);
  const projected = await client.doGetTable(JSON.stringify({ name: 'tickets', columns: ['label'], limit: 2 }));
  assert.deepEqual(projected.schema.fields.map((field) => field.name), ['label']);
  const empty = await client.doGetTable(JSON.stringify({ name: 'tickets', filters: [{ field: 'id', op: '>', value: 100 }] }));
  assert.equal(empty.numRows, 0);
  assert.deepEqual(empty.schema.fields.map((field) => field.name), ['id', 'vector', 'label']);
  const get = (ticket: string) => client.doGetTable(ticket);
  await rejects(get('{"name": '), GrpcStatus.INVALID_ARGUMENT, 'invalid ticket:', 'INVALID_TICKET');
  await rejects(get('{"name":"tickets","bogus":1}'), GrpcStatus.INVALID_ARGUMENT, 'invalid ticket: unknown field "bogus"');
  await rejects(get('{"name":"tickets","limit":-1}'), GrpcStatus.INVALID_ARGUMENT, 'invalid ticket:');
  await rejects(get('{"name":"tickets","columns":"id"}'), GrpcStatus.INVALID_ARGUMENT, 'invalid ticket:');
  await rejects(get('{"limit":1}'), GrpcStatus.INVALID_ARGUMENT, 'invalid ticket:');
  await rejects(get(''), GrpcStatus.INVALID_ARGUMENT, 'invalid ticket:');
  await rejects(client.doGetTable(new Uint8Array([0xff, 0xfe])), GrpcStatus.INVALID_ARGUMENT, 'invalid ticket: not valid UTF-8');
  await rejects(get('{"name":"tickets","columns":["nope"]}'), GrpcStatus.INVALID_ARGUMENT, 'unknown column:', 'UNKNOWN_COLUMN');
  await rejects(get('{"name":"tickets","filters":[{"field":"id","op":"~","value":1}]}'), GrpcStatus.INVALID_ARGUMENT, 'invalid filter:', 'INVALID_FILTER');
  await rejects(get('missing-dataset'), GrpcStatus.NOT_FOUND, 'dataset not found: missing-dataset');
  await rejects(get('{"search":{"dataset":"tickets"}}'), GrpcStatus.INVALID_ARGUMENT, 'invalid search: a query "vector"', 'INVALID_SEARCH');
});

test('actions: list, get_stats, drop_dataset, unknown', async () => {
  const types = (await client.listActions()).map((action) => action.type);
  assert.deepEqual(types, ['get_stats', 'drop_dataset', 'force_snapshot', 'delete', 'VectorSearch', 'VectorSearchByID', 'check_readiness']);
  await put('to-drop', [makeBatch(6)]);
  const before = await stats();
  assert.equal(typeof before.current_memory, 'number');
  assert.ok((before.current_memory as number) > 0);
  assert.equal(before.max_memory, 2 ** 30);
  const datasetsBefore = before.datasets as number;
  assert.deepEqual(await client.doActionJson('drop_dataset', 'to-drop'), [{ status: 'ok', message: 'dataset dropped' }]);
  const after = await stats();
  assert.equal(after.datasets, datasetsBefore - 1);
  assert.ok((after.current_memory as number) < (before.current_memory as number));
  await rejects(client.doGetTable('to-drop'), GrpcStatus.NOT_FOUND, 'dataset not found: to-drop');
  await put('to-drop-json', [makeBatch(1)]);
  assert.deepEqual(await client.doActionJson('drop_dataset', { name: 'to-drop-json' }), [{ status: 'ok', message: 'dataset dropped' }]);
  await rejects(client.doActionJson('drop_dataset', 'never-was'), GrpcStatus.NOT_FOUND, 'dataset not found: never-was');
  await rejects(client.doActionJson('drop_dataset', ''), GrpcStatus.INVALID_ARGUMENT, 'invalid action body:', 'INVALID_ACTION_BODY');
  await rejects(client.doActionJson('drop_dataset', '{"name": 3}'), GrpcStatus.INVALID_ARGUMENT, 'invalid action body:');
  await rejects(client.doActionJson('nope'), GrpcStatus.UNIMPLEMENTED, 'unknown action: "nope"', 'UNKNOWN_ACTION');
  await rejects((async () => { for await (const _ of client.doExchange([])) void _; })(), GrpcStatus.INVALID_ARGUMENT, 'missing schema: the exchange ended', 'MISSING_SCHEMA');
});

test('memory limit: a batch over it is refused whole, the server keeps serving', async () => {
  const limited = await startServer({ LONGBOW_MAX_MEMORY: '64KiB' });
  try {
    const acks = await limited.client.doPut(pathDescriptor('m'), makeBatch(1).schema, [makeBatch(100, 16)]);
    assert.equal(acks.length, 1);
    await assert.rejects(limited.client.doPut(pathDescriptor('m'), makeBatch(1).schema, [makeBatch(2000, 16)]),
      (error: FlightError) => error.code === GrpcStatus.RESOURCE_EXHAUSTED && error.message.startsWith('memory limit exceeded:') && error.errorCode === 'MEMORY_LIMIT');
    assert.equal((await limited.client.doGetTable('m')).numRows, 100);
    const [reply] = await limited.client.doActionJson<{ current_memory: number; max_memory: number }>('get_stats');
    assert.equal(reply.max_memory, 65536);
    assert.ok(reply.current_memory <= 65536);
  } finally {
    await limited.stop();
  }
});

test('auth: every call needs the bearer token, Handshake accepts it as header or payload', async () => {
  const secured = await startServer({ LONGBOW_AUTH_TOKEN: 's3cret' });
  const anonymous = new FlightClient(`grpc://${secured.dataAddr}`);
  const wrong = new FlightClient(`grpc://${secured.dataAddr}`, { token: 'nope' });
  try {
    await rejects(anonymous.doActionJson('get_stats'), GrpcStatus.UNAUTHENTICATED, 'unauthenticated:', 'UNAUTHENTICATED');
    await rejects(wrong.listActions(), GrpcStatus.UNAUTHENTICATED, 'unauthenticated:');
    await rejects(anonymous.handshake(Buffer.from('guess')), GrpcStatus.UNAUTHENTICATED, 'unauthenticated:');
    assert.equal(Buffer.from(await anonymous.handshake(Buffer.from('s3cret'))).toString(), 's3cret');
    const [reply] = await secured.client.doActionJson<{ datasets: number }>('get_stats');
    assert.equal(reply.datasets, 0);
  } finally {
    anonymous.close();
    wrong.close();
    await secured.stop();
  }
});

test('durability: puts and drops survive a restart on the same data path; seq continues', async () => {
  const first = await startServer();
  const dataPath = first.dataPath;
  const acks = await first.client.doPut(pathDescriptor('kept'), makeBatch(1).schema, [makeBatch(3), makeBatch(2, 4, 3)]);
  await first.client.doPut(pathDescriptor('gone'), makeBatch(1).schema, [makeBatch(1)]);
  await first.client.doActionJson('drop_dataset', 'gone');
  const lastSeq = JSON.parse(Buffer.from(acks[1].appMetadata).toString()).seq as number;
  first.client.close();
  await first.server.stop();
  const second = await startServer({}, dataPath);
  try {
    const table = await second.client.doGetTable('kept');
    assert.deepEqual([...table.getChild('id')!].map(Number), [0, 1, 2, 3, 4]);
    assert.deepEqual([...table.getChild('label')!], [null, 'row-1', 'row-2', 'row-3', 'row-4']);
    await rejects(second.client.doGetTable('gone'), GrpcStatus.NOT_FOUND, 'dataset not found: gone');
    const [ack] = await second.client.doPut(pathDescriptor('kept'), makeBatch(1).schema, [makeBatch(1, 4, 5)]);
    assert.ok(JSON.parse(Buffer.from(ack.appMetadata).toString()).seq > lastSeq + 1, 'sequence continues after the drop record');
  } finally {
    await second.stop();
  }
});
