/**
 * FlightServer and FlightClient against each other over real gRPC (127.0.0.1, ephemeral port).
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  Dictionary, Field, Float64, Int32, makeData, RecordBatch, Schema, Utf8, vectorFromArray,
} from 'apache-arrow';
import {
  codecs, decodeEncapsulatedSchema, DescriptorType, encapsulateSchema, encodeRecordBatches, FlightClient,
  FlightDataDecoder, FlightDataEncoder, FlightError, FlightServer, GrpcStatus, parseLocation, pathDescriptor,
  type CallContext, type CallOutcome, type FlightData, type FlightDescriptor, type FlightHandlers, type FlightInfo,
  type FlightServerOptions, type PutResult,
} from '../src/index.ts';
import { assertBatchEqual, assertValues, batchWithSchema, deferred, EMPTY, onlyChunk, utf8, within } from './helpers.ts';

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');

// ---------------------------------------------------------------------------------------------
// Data

const colorType = new Dictionary(new Utf8(), new Int32(), 1);
const schema = new Schema([
  new Field('id', new Int32(), false),
  new Field('name', new Utf8(), true),
  new Field('color', colorType, true),
]);

function makeBatch(start: number, length: number): RecordBatch {
  const ids = Array.from({ length }, (_, i) => start + i);
  return batchWithSchema(schema, [
    onlyChunk(vectorFromArray(ids, new Int32())),
    onlyChunk(vectorFromArray(ids.map((id) => (id % 3 === 0 ? null : `row-${id}`)), new Utf8())),
    onlyChunk(vectorFromArray(ids.map((id) => ['red', 'green', null][id % 3]), colorType)),
  ]);
}

/** Slices of one batch: they share one dictionary, which must be sent once. */
const wholeTable = makeBatch(0, 12);
const tableBatches = [wholeTable.slice(0, 5), wholeTable.slice(5, 8), wholeTable.slice(8, 8), wholeTable.slice(8, 12)];

/** One float64 column of `bytes / 8` values. */
function bigBatch(bytes: number): RecordBatch {
  const values = new Float64Array(bytes / 8);
  for (let i = 0; i < values.length; i++) values[i] = i * 0.5;
  const bigSchema = new Schema([new Field('x', new Float64(), false)]);
  return batchWithSchema(bigSchema, [makeData({ type: new Float64(), length: values.length, nullCount: 0, data: values })]);
}

function valuesBytes(batch: RecordBatch): Buffer {
  const values = batch.getChildAt(0)!.data[0].values as Float64Array;
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

const BIG_BYTES = 64 * 1024 * 1024;
let big: RecordBatch | undefined;
const bigBatchOnce = () => (big ??= bigBatch(BIG_BYTES));

function flightInfo(descriptor: FlightDescriptor, totalRecords: number): FlightInfo {
  return {
    schema: encapsulateSchema(schema),
    flightDescriptor: descriptor,
    endpoint: [{
      ticket: { ticket: utf8(`ticket:${descriptor.path.join('/')}`) },
      location: [{ uri: 'grpc://127.0.0.1:1234' }, { uri: 'grpc+tcp://10.0.0.1:5678' }],
      expirationTime: { seconds: 1_900_000_000, nanos: 42 },
      appMetadata: utf8('endpoint-meta'),
    }],
    totalRecords,
    totalBytes: 123_456_789_012,
    ordered: true,
    appMetadata: utf8('info-meta'),
  };
}

// ---------------------------------------------------------------------------------------------
// A server with every handler, recording what it sees

interface Recorder {
  errors: { error: unknown; method: string }[];
  outcomes: CallOutcome[];
  contexts: CallContext[];
  puts: Map<string, { descriptor?: FlightDescriptor; batches: RecordBatch[]; metadata: string[] }>;
  infiniteFinally: ReturnType<typeof deferred<{ aborted: boolean; sent: number }>>[];
  outcomeWaiters: { predicate: (o: CallOutcome) => boolean; resolve: (o: CallOutcome) => void }[];
  abortedInHandler: boolean[];
  /** FlightData bodies received by DoPut, and how many were not 8-byte aligned. */
  receivedBodies: number;
  misalignedBodies: number;
}

function newRecorder(): Recorder {
  return { errors: [], outcomes: [], contexts: [], puts: new Map(), infiniteFinally: [], outcomeWaiters: [], abortedInHandler: [], receivedBodies: 0, misalignedBodies: 0 };
}

function waitForOutcome(recorder: Recorder, predicate: (o: CallOutcome) => boolean): Promise<CallOutcome> {
  const seen = recorder.outcomes.find(predicate);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve) => recorder.outcomeWaiters.push({ predicate, resolve }));
}

function recordingOptions(recorder: Recorder, extra: FlightServerOptions = {}): FlightServerOptions {
  return {
    ...extra,
    onError(error, context) { recorder.errors.push({ error, method: context.method }); },
    onCallEnd(outcome) {
      recorder.outcomes.push(outcome);
      for (const waiter of [...recorder.outcomeWaiters]) {
        if (waiter.predicate(outcome)) {
          recorder.outcomeWaiters.splice(recorder.outcomeWaiters.indexOf(waiter), 1);
          waiter.resolve(outcome);
        }
      }
    },
  };
}

function handlers(recorder: Recorder): FlightHandlers {
  return {
    async *handshake(requests, context) {
      recorder.contexts.push(context);
      for await (const request of requests) {
        yield { protocolVersion: request.protocolVersion + 1, payload: Buffer.from(request.payload).reverse() };
      }
    },

    async *listFlights(criteria) {
      const filter = text(criteria.expression);
      for (const name of ['alpha', 'beta', 'gamma']) {
        if (filter === '' || name.startsWith(filter)) yield flightInfo(pathDescriptor(name), name.length);
      }
    },

    async getFlightInfo(descriptor, context) {
      recorder.contexts.push(context);
      recorder.abortedInHandler.push(context.signal.aborted);
      const [name] = descriptor.path;
      if (name === 'missing') throw new FlightError(GrpcStatus.NOT_FOUND, 'dataset "missing" does not exist', 'DATASET_NOT_FOUND');
      if (name === 'boom') throw new Error('database password is hunter2');
      return flightInfo(descriptor, 12);
    },

    async pollFlightInfo(descriptor) {
      return {
        info: flightInfo(descriptor, 7),
        flightDescriptor: descriptor,
        progress: 0.25,
        expirationTime: { seconds: 1_800_000_000, nanos: 999 },
      };
    },

    async getSchema(descriptor) {
      if (descriptor.path[0] === 'missing') throw new FlightError(GrpcStatus.NOT_FOUND, 'no schema', 'DATASET_NOT_FOUND');
      return { schema: encapsulateSchema(schema) };
    },

    async *doGet(ticket, context) {
      recorder.contexts.push(context);
      const name = text(ticket.ticket);
      if (name === 'table') {
        const encoder = new FlightDataEncoder(schema);
        yield encoder.schemaMessage();
        for (const [i, batch] of tableBatches.entries()) yield* encoder.batchMessages(batch, utf8(`part-${i}`));
        return;
      }
      if (name === 'empty') {
        yield new FlightDataEncoder(schema).schemaMessage();
        return;
      }
      if (name === 'missing') throw new FlightError(GrpcStatus.NOT_FOUND, 'ticket "missing" is unknown', 'TICKET_NOT_FOUND');
      if (name === 'fail-midway') {
        const encoder = new FlightDataEncoder(schema);
        yield encoder.schemaMessage();
        yield* encoder.batchMessages(tableBatches[0]);
        throw new TypeError('cannot read properties of undefined (secret internals)');
      }
      if (name === 'big') {
        const batch = bigBatchOnce();
        yield* encodeRecordBatches(batch.schema, [batch]);
        return;
      }
      if (name === 'infinite') {
        const done = deferred<{ aborted: boolean; sent: number }>();
        recorder.infiniteFinally.push(done);
        let sent = 0;
        try {
          const body = new Uint8Array(64 * 1024);
          for (;;) {
            yield { dataHeader: EMPTY, appMetadata: utf8(String(sent)), dataBody: body } satisfies FlightData;
            sent++;
          }
        } finally {
          done.resolve({ aborted: context.signal.aborted, sent });
        }
      }
      if (name === 'wait-for-cancel') {
        await new Promise<void>((resolve) => context.signal.addEventListener('abort', () => resolve(), { once: true }));
        return;
      }
      throw new FlightError(GrpcStatus.INVALID_ARGUMENT, `unknown ticket ${name}`);
    },

    async *doPut(messages, context) {
      recorder.contexts.push(context);
      const decoder = new FlightDataDecoder();
      let key: string | undefined;
      let rows = 0;
      for await (const message of messages) {
        assert.ok(message.dataBody instanceof Uint8Array, 'received bodies are contiguous');
        if (message.dataBody.byteLength > 0) {
          recorder.receivedBodies++;
          if (message.dataBody.byteOffset % 8 !== 0) recorder.misalignedBodies++;
        }
        const decoded = decoder.decode(message);
        if (decoded.kind === 'schema') {
          key = decoded.descriptor?.path.join('/') ?? '';
          if (key === 'forbidden') throw new FlightError(GrpcStatus.PERMISSION_DENIED, 'read-only dataset', 'READ_ONLY');
          recorder.puts.set(key, { descriptor: decoded.descriptor, batches: [], metadata: [] });
        } else if (decoded.kind === 'batch') {
          const entry = recorder.puts.get(key!)!;
          entry.batches.push(decoded.batch);
          entry.metadata.push(text(decoded.appMetadata));
          rows += decoded.batch.numRows;
          yield { appMetadata: utf8(JSON.stringify({ rows })) };
        } else if (decoded.kind === 'metadata') {
          yield { appMetadata: utf8(`ack:${text(decoded.appMetadata)}`) };
        }
      }
      yield { appMetadata: utf8(JSON.stringify({ done: true, rows })) };
    },

    async *doExchange(messages) {
      // Echo every batch with ids doubled; answer metadata-only messages.
      const decoder = new FlightDataDecoder();
      let encoder: FlightDataEncoder | undefined;
      for await (const message of messages) {
        const decoded = decoder.decode(message);
        if (decoded.kind === 'schema') {
          encoder = new FlightDataEncoder(decoded.schema);
          yield encoder.schemaMessage(undefined, utf8('exchange-ready'));
        } else if (decoded.kind === 'batch') {
          const ids = decoded.batch.getChild('id')!.toArray() as Int32Array;
          const doubled = batchWithSchema(decoded.batch.schema, [
            makeData({ type: new Int32(), length: ids.length, nullCount: 0, data: ids.map((v) => v * 2) }),
            ...decoded.batch.data.children.slice(1),
          ]);
          yield* encoder!.batchMessages(doubled, decoded.appMetadata);
        } else if (decoded.kind === 'metadata') {
          yield { dataHeader: EMPTY, appMetadata: utf8(`pong:${text(decoded.appMetadata)}`), dataBody: EMPTY };
        }
      }
    },

    async *doAction(action) {
      if (action.type === 'echo') {
        yield { body: action.body };
        return;
      }
      if (action.type === 'count') {
        const { n } = JSON.parse(text(action.body)) as { n: number };
        for (let i = 0; i < n; i++) yield { body: utf8(JSON.stringify({ i })) };
        return;
      }
      if (action.type === 'boom') throw new Error('action exploded with secret');
      throw new FlightError(GrpcStatus.INVALID_ARGUMENT, `unknown action ${action.type}`, 'UNKNOWN_ACTION');
    },

    async *listActions() {
      yield { type: 'echo', description: 'returns its body' };
      yield { type: 'count', description: 'returns n results' };
    },
  };
}

type Transport = NonNullable<FlightServerOptions['transport']>;
const TRANSPORTS: Transport[] = ['http2', 'node-http2', 'grpc-js'];

async function startServer(h: FlightHandlers, options: FlightServerOptions = {}) {
  const server = new FlightServer(h, options);
  const port = await server.listen('127.0.0.1:0');
  assert.ok(port > 0);
  return { server, port, address: `grpc://127.0.0.1:${port}` };
}

/** `{ todo }` for the transports where a known bug makes the test fail. */
function knownBug(transport: Transport, reasons: Partial<Record<Transport, string>>): { todo?: string } {
  void reasons[transport]; // every known bug is fixed; the reasons stay as the tests' history
  return {};
}

async function rejection(promise: Promise<unknown>): Promise<FlightError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof FlightError, `expected a FlightError, got ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

// ---------------------------------------------------------------------------------------------

for (const transport of TRANSPORTS) {
  describe(`${transport} transport`, () => {
    describe('FlightServer + FlightClient', () => {
      const recorder = newRecorder();
      let server: FlightServer;
      let client: FlightClient;
      let address: string;

      before(async () => {
        ({ server, address } = await startServer(handlers(recorder), { ...recordingOptions(recorder), transport }));
        client = new FlightClient(address, { headers: { 'x-client': 'tests' } });
      });

      after(async () => {
        client.close();
        await server.shutdown(1000);
      });

      describe('every RPC round-trips', () => {
        test('Handshake', async () => {
          const payload = await client.handshake(utf8('hello'));
          assert.equal(text(payload), 'olleh');
          const context = [...recorder.contexts].reverse().find((c) => c.method === 'Handshake');
          assert.ok(context);
        });

        test('ListFlights (all, then filtered by criteria)', async () => {
          const all = await collect(client.listFlights());
          assert.deepEqual(all.map((info) => info.flightDescriptor?.path), [['alpha'], ['beta'], ['gamma']]);
          assert.deepEqual(all.map((info) => info.totalRecords), [5, 4, 5]);
          const filtered = await collect(client.listFlights({ expression: utf8('b') }));
          assert.deepEqual(filtered.map((info) => info.flightDescriptor?.path), [['beta']]);
          const none = await collect(client.listFlights({ expression: utf8('zzz') }));
          assert.equal(none.length, 0);
        });

        test('GetFlightInfo carries every field', async () => {
          const info = await client.getFlightInfo(pathDescriptor('datasets', 'embeddings'));
          assert.deepEqual(info.flightDescriptor?.path, ['datasets', 'embeddings']);
          assert.equal(info.flightDescriptor?.type, DescriptorType.PATH);
          assert.equal(info.totalRecords, 12);
          assert.equal(info.totalBytes, 123_456_789_012);
          assert.equal(info.ordered, true);
          assert.equal(text(info.appMetadata), 'info-meta');
          assert.equal(info.endpoint.length, 1);
          const [endpoint] = info.endpoint;
          assert.equal(text(endpoint.ticket.ticket), 'ticket:datasets/embeddings');
          assert.deepEqual(endpoint.location.map((l) => l.uri), ['grpc://127.0.0.1:1234', 'grpc+tcp://10.0.0.1:5678']);
          assert.deepEqual(endpoint.expirationTime, { seconds: 1_900_000_000, nanos: 42 });
          assert.equal(text(endpoint.appMetadata), 'endpoint-meta');
          const decoded = decodeEncapsulatedSchema(info.schema);
          assert.deepEqual(decoded.fields.map((f) => [f.name, String(f.type), f.nullable]), schema.fields.map((f) => [f.name, String(f.type), f.nullable]));
        });

        test('PollFlightInfo', async () => {
          const poll = await client.pollFlightInfo(pathDescriptor('slow'));
          assert.equal(poll.progress, 0.25);
          assert.deepEqual(poll.expirationTime, { seconds: 1_800_000_000, nanos: 999 });
          assert.deepEqual(poll.flightDescriptor?.path, ['slow']);
          assert.equal(poll.info?.totalRecords, 7);
          assert.equal(text(poll.info!.endpoint[0].ticket.ticket), 'ticket:slow');
        });

        test('GetSchema', async () => {
          const got = await client.getSchema(pathDescriptor('anything'));
          assert.deepEqual(got.fields.map((f) => [f.name, String(f.type), f.nullable]), [
            ['id', 'Int32', false], ['name', 'Utf8', true], ['color', 'Dictionary<Int32, Utf8>', true],
          ]);
        });

        test('DoGet as a table, as batches and as raw messages', async () => {
          const table = await client.doGetTable('table');
          assert.equal(table.numRows, 12);
          assert.deepEqual([...table.getChild('id')!], Array.from({ length: 12 }, (_, i) => i));
          assert.deepEqual([...table.getChild('name')!].slice(0, 4), [null, 'row-1', 'row-2', null]);
          assert.deepEqual([...table.getChild('color')!].slice(0, 4), ['red', 'green', null, 'red']);

          const batches = await collect(client.doGet('table'));
          assert.equal(batches.length, tableBatches.length);
          batches.forEach((batch, i) => assertBatchEqual(batch, tableBatches[i], `batch ${i}`));

          const messages = await collect(client.doGetMessages({ ticket: utf8('table') }));
          const decoder = new FlightDataDecoder();
          const decoded = messages.map((m) => decoder.decode(m));
          assert.deepEqual(decoded.map((d) => d.kind), ['schema', 'dictionary', 'batch', 'batch', 'batch', 'batch']);
          assert.deepEqual(decoded.filter((d) => d.kind === 'batch').map((d) => text(d.appMetadata)), ['part-0', 'part-1', 'part-2', 'part-3']);
          for (const message of messages) assert.equal((message.dataBody as Uint8Array).byteOffset % 8, 0);
        });

        test('DoGet of a stream with only a schema gives an empty table with that schema', async () => {
          const table = await client.doGetTable('empty');
          assert.equal(table.numRows, 0);
          assert.deepEqual(table.schema.fields.map((f) => f.name), ['id', 'name', 'color']);
        });

        test('DoPut uploads batches and streams acknowledgements', async () => {
          const uploads = [makeBatch(100, 10), makeBatch(110, 0), makeBatch(110, 25)];
          const results = await client.doPut(pathDescriptor('uploads', 'one'), schema, uploads);
          assert.deepEqual(results.map((r) => JSON.parse(text(r.appMetadata))), [
            { rows: 10 }, { rows: 10 }, { rows: 35 }, { done: true, rows: 35 },
          ]);
          const stored = recorder.puts.get('uploads/one');
          assert.ok(stored);
          assert.deepEqual(stored.descriptor?.path, ['uploads', 'one']);
          assert.equal(stored.batches.length, 3);
          stored.batches.forEach((batch, i) => assertBatchEqual(batch, uploads[i], `stored ${i}`));
        });

        test('DoPut from an async iterable of batches', async () => {
          async function* produce() {
            for (let i = 0; i < 4; i++) {
              await new Promise((resolve) => setImmediate(resolve));
              yield makeBatch(i * 10, 10);
            }
          }
          const results = await client.doPut(pathDescriptor('uploads', 'async'), schema, produce());
          assert.equal(results.length, 5);
          assert.deepEqual(JSON.parse(text(results.at(-1)!.appMetadata)), { done: true, rows: 40 });
          assertValues(recorder.puts.get('uploads/async')!.batches[3].getChild('id')!, Array.from({ length: 10 }, (_, i) => 30 + i), 'ids');
        });

        test('DoPut of raw messages with app_metadata and metadata-only messages', async () => {
          const encoder = new FlightDataEncoder(schema);
          const messages: FlightData[] = [
            encoder.schemaMessage(pathDescriptor('uploads', 'raw')),
            { dataHeader: EMPTY, appMetadata: utf8('checkpoint'), dataBody: EMPTY },
            ...encoder.batchMessages(makeBatch(0, 3), utf8('first')),
            ...encoder.batchMessages(makeBatch(3, 3), utf8('second')),
          ];
          const results = await collect(client.doPutMessages(messages));
          assert.deepEqual(results.map((r) => text(r.appMetadata)), [
            'ack:checkpoint', '{"rows":3}', '{"rows":6}', '{"done":true,"rows":6}',
          ]);
          assert.deepEqual(recorder.puts.get('uploads/raw')!.metadata, ['first', 'second']);
        });

        test('DoExchange', async () => {
          const encoder = new FlightDataEncoder(schema);
          const source = makeBatch(1, 6);
          const input = [source.slice(0, 4), source.slice(4, 6)];
          const messages: FlightData[] = [
            encoder.schemaMessage(),
            { dataHeader: EMPTY, appMetadata: utf8('ping'), dataBody: EMPTY },
            ...encoder.batchMessages(input[0], utf8('a')),
            ...encoder.batchMessages(input[1], utf8('b')),
          ];
          const decoder = new FlightDataDecoder();
          const replies = (await collect(client.doExchange(messages))).map((m) => decoder.decode(m));
          // One dictionary each way: the server's decoded batches share the dictionary it received.
          assert.deepEqual(replies.map((r) => r.kind), ['schema', 'metadata', 'dictionary', 'batch', 'batch']);
          assert.equal(text(replies[0].appMetadata), 'exchange-ready');
          assert.equal(text(replies[1].appMetadata), 'pong:ping');
          const out = replies.flatMap((r) => (r.kind === 'batch' ? [r] : []));
          assert.deepEqual(out.map((r) => text(r.appMetadata)), ['a', 'b']);
          assertValues(out[0].batch.getChild('id')!, [2, 4, 6, 8], 'doubled ids');
          assertValues(out[1].batch.getChild('id')!, [10, 12], 'doubled ids');
          assertValues(out[0].batch.getChild('name')!, ['row-1', 'row-2', null, 'row-4'], 'names');
          assertValues(out[1].batch.getChild('color')!, [null, 'red'], 'colors');
        });

        test('DoAction and doActionJson', async () => {
          const echoed = await collect(client.doAction('echo', 'payload bytes'));
          assert.deepEqual(echoed.map((r) => text(r.body)), ['payload bytes']);
          const counted = await client.doActionJson<{ i: number }>('count', { n: 3 });
          assert.deepEqual(counted, [{ i: 0 }, { i: 1 }, { i: 2 }]);
          const unknown = await rejection(collect(client.doAction('nope')));
          assert.equal(unknown.code, GrpcStatus.INVALID_ARGUMENT);
          assert.equal(unknown.errorCode, 'UNKNOWN_ACTION');
          assert.equal(unknown.message, 'unknown action nope');
        });

        test('ListActions', async () => {
          const actions = await client.listActions();
          assert.deepEqual(actions, [
            { type: 'echo', description: 'returns its body' },
            { type: 'count', description: 'returns n results' },
          ]);
        });

        test('handlers see method, headers and peer', async () => {
          const before = recorder.contexts.length;
          await client.getFlightInfo(pathDescriptor('x'), { headers: { 'x-request-id': 'r-42' } });
          const context = recorder.contexts.slice(before).find((c) => c.method === 'GetFlightInfo');
          assert.ok(context);
          assert.equal(context.headers['x-client'], 'tests');
          assert.equal(context.headers['x-request-id'], 'r-42');
          assert.match(context.peer, /127\.0\.0\.1/);
          assert.equal(recorder.abortedInHandler.at(-1), false, 'the signal is not aborted while the handler runs');
        });

        test('the call signal stays unaborted after a call that completed normally', knownBug(transport, {
          'grpc-js': 'grpc-js-server.ts context(): grpc-js emits "cancelled" after sending the status of every call (notifyOnCancel), so the signal aborts after successful calls too',
        }), async () => {
          const before = recorder.contexts.length;
          await client.getFlightInfo(pathDescriptor('y'));
          await collect(client.doGetMessages('table'));
          await new Promise((resolve) => setTimeout(resolve, 50));
          const contexts = recorder.contexts.slice(before);
          assert.deepEqual(contexts.map((c) => [c.method, c.signal.aborted]), [['GetFlightInfo', false], ['DoGet', false]]);
        });

        test('onCallEnd reports each call with its status', async () => {
          await client.getFlightInfo(pathDescriptor('ok'));
          const outcome = await within(waitForOutcome(recorder, (o) => o.method === 'GetFlightInfo' && o.code === GrpcStatus.OK), 5000, 'onCallEnd');
          assert.ok(outcome.durationSeconds >= 0 && outcome.durationSeconds < 10);
          await collect(client.listFlights());
          await within(waitForOutcome(recorder, (o) => o.method === 'ListFlights' && o.code === GrpcStatus.OK), 5000, 'onCallEnd');
        });
      });

      describe('errors', () => {
        test('a FlightError from a unary handler arrives with its code, message and errorCode', async () => {
          const errorsBefore = recorder.errors.length;
          const error = await rejection(client.getFlightInfo(pathDescriptor('missing')));
          assert.equal(error.code, GrpcStatus.NOT_FOUND);
          assert.equal(error.message, 'dataset "missing" does not exist');
          assert.equal(error.errorCode, 'DATASET_NOT_FOUND');
          assert.equal(recorder.errors.length, errorsBefore, 'FlightErrors are not reported to onError');
          await within(waitForOutcome(recorder, (o) => o.method === 'GetFlightInfo' && o.code === GrpcStatus.NOT_FOUND), 5000, 'onCallEnd');
        });

        test('a FlightError from a streaming handler arrives with its code, message and errorCode', async () => {
          const error = await rejection(collect(client.doGetMessages('missing')));
          assert.equal(error.code, GrpcStatus.NOT_FOUND);
          assert.equal(error.message, 'ticket "missing" is unknown');
          assert.equal(error.errorCode, 'TICKET_NOT_FOUND');
          const schemaError = await rejection(client.getSchema(pathDescriptor('missing')));
          assert.equal(schemaError.code, GrpcStatus.NOT_FOUND);
          assert.equal(schemaError.errorCode, 'DATASET_NOT_FOUND');
        });

        test('a FlightError from a DoPut handler reaches the uploading client', async () => {
          const batches = Array.from({ length: 50 }, (_, i) => makeBatch(i * 1000, 1000));
          const error = await rejection(client.doPut(pathDescriptor('forbidden'), schema, batches));
          assert.equal(error.code, GrpcStatus.PERMISSION_DENIED);
          assert.equal(error.message, 'read-only dataset');
          assert.equal(error.errorCode, 'READ_ONLY');
        });

        test('a plain Error from a unary handler is INTERNAL "internal error" and goes to onError', async () => {
          const errorsBefore = recorder.errors.length;
          const error = await rejection(client.getFlightInfo(pathDescriptor('boom')));
          assert.equal(error.code, GrpcStatus.INTERNAL);
          assert.equal(error.message, 'internal error');
          assert.equal(error.errorCode, 'INTERNAL');
          assert.doesNotMatch(error.message, /hunter2/);
          const reported = recorder.errors.slice(errorsBefore);
          assert.equal(reported.length, 1);
          assert.equal(reported[0].method, 'GetFlightInfo');
          assert.ok(reported[0].error instanceof Error);
          assert.equal((reported[0].error as Error).message, 'database password is hunter2');
        });

        test('a plain Error in the middle of a stream: data first, then INTERNAL', async () => {
          const errorsBefore = recorder.errors.length;
          const received: RecordBatch[] = [];
          const error = await rejection((async () => { for await (const batch of client.doGet('fail-midway')) received.push(batch); })());
          assert.equal(error.code, GrpcStatus.INTERNAL);
          assert.equal(error.message, 'internal error');
          assert.doesNotMatch(error.message, /secret/);
          assert.equal(received.length, 1);
          assertBatchEqual(received[0], tableBatches[0]);
          const reported = recorder.errors.slice(errorsBefore);
          assert.equal(reported.length, 1);
          assert.ok(reported[0].error instanceof TypeError);
          assert.equal(reported[0].method, 'DoGet');
        });

        test('a plain Error from DoAction is INTERNAL', async () => {
          const error = await rejection(collect(client.doAction('boom')));
          assert.equal(error.code, GrpcStatus.INTERNAL);
          assert.equal(error.message, 'internal error');
          assert.ok(recorder.errors.some((e) => e.method === 'DoAction' && (e.error as Error).message === 'action exploded with secret'));
        });

        test('malformed IPC data in a DoPut is INVALID_ARGUMENT with MALFORMED_FLIGHT_DATA', async () => {
          const encoder = new FlightDataEncoder(schema);
          const [batchMessage] = encoder.batchMessages(makeBatch(0, 3)).slice(-1);
          const messages: FlightData[] = [
            encoder.schemaMessage(pathDescriptor('uploads', 'bad')),
            // The batch message without the dictionary it needs: the decoder must refuse it.
            batchMessage,
          ];
          const error = await rejection(collect(client.doPutMessages(messages)));
          assert.equal(error.code, GrpcStatus.INVALID_ARGUMENT);
          assert.match(error.message, /^malformed FlightData: /);
          assert.equal(error.errorCode, 'MALFORMED_FLIGHT_DATA');
        });

        test('malformed protobuf FlightData in a DoPut is INVALID_ARGUMENT', knownBug(transport, {
          'grpc-js': 'grpc-js-server.ts decodes FlightData in the grpc-js requestDeserialize hook; grpc-js turns any deserializer exception into INTERNAL "Error deserializing request"',
        }), async () => {
          const raw = new grpc.Client(parseLocation(address), grpc.credentials.createInsecure());
          try {
            const error = await new Promise<grpc.ServiceError>((resolve, reject) => {
              const call = raw.makeBidiStreamRequest<Buffer, PutResult>('/arrow.flight.protocol.FlightService/DoPut',
                (bytes: Buffer) => bytes, (bytes: Buffer) => codecs.PutResult.decode(bytes), new grpc.Metadata(), {});
              call.on('data', () => {});
              call.on('error', resolve);
              call.on('end', () => reject(new Error('the call ended without an error')));
              call.write(Buffer.from([0x12, 0x05, 1, 2])); // data_header of 5 bytes, only 2 present
              call.end();
            });
            const flightError = FlightError.fromGrpc(error);
            assert.equal(flightError.code, GrpcStatus.INVALID_ARGUMENT, `got ${GrpcStatus[flightError.code]}: ${flightError.message}`);
            assert.match(flightError.message, /^malformed FlightData: /);
          } finally {
            raw.close();
          }
        });
      });

      describe('large messages', () => {
        test('a 64 MiB batch downloads with DoGet (no 4 MiB limit)', async () => {
          const expected = bigBatchOnce();
          const batches = await collect(client.doGet('big'));
          assert.equal(batches.length, 1);
          assert.equal(batches[0].numRows, BIG_BYTES / 8);
          assert.ok(valuesBytes(batches[0]).equals(valuesBytes(expected)));
          assert.equal(batches[0].getChild('x')!.get(BIG_BYTES / 8 - 1), (BIG_BYTES / 8 - 1) * 0.5);
        });

        test('a 64 MiB batch uploads with DoPut (no 4 MiB limit)', async () => {
          const expected = bigBatchOnce();
          const uploadSchema = expected.schema;
          const results = await client.doPutMessages(encodeRecordBatches(uploadSchema, [expected], pathDescriptor('uploads', 'big')));
          const acks = await collect(results);
          assert.deepEqual(JSON.parse(text(acks.at(-1)!.appMetadata)), { done: true, rows: BIG_BYTES / 8 });
          const stored = recorder.puts.get('uploads/big')!.batches[0];
          assert.ok(valuesBytes(stored).equals(valuesBytes(expected)));
          assert.equal((stored.getChildAt(0)!.data[0].values as Float64Array).byteOffset % 8, 0);
        });
      });

      describe('cancellation', () => {
        test('breaking out of a DoGet loop runs the server generator\'s finally', async () => {
          const finallyCount = recorder.infiniteFinally.length;
          let received = 0;
          for await (const message of client.doGetMessages('infinite')) {
            assert.equal(text(message.appMetadata), String(received));
            received++;
            if (received === 3) break;
          }
          assert.equal(received, 3);
          assert.equal(recorder.infiniteFinally.length, finallyCount + 1, 'the handler started');
          const { aborted, sent } = await within(recorder.infiniteFinally[finallyCount].promise, 10_000, 'the DoGet generator to finish');
          assert.equal(aborted, true, 'the call signal is aborted when the client goes away');
          assert.ok(sent >= 3);
          await within(waitForOutcome(recorder, (o) => o.method === 'DoGet' && o.code === GrpcStatus.CANCELLED), 10_000, 'onCallEnd(CANCELLED)');
        });

        test('aborting a DoGet with an AbortSignal cancels both sides', async () => {
          const finallyCount = recorder.infiniteFinally.length;
          const controller = new AbortController();
          let received = 0;
          const error = await rejection((async () => {
            for await (const _ of client.doGetMessages('infinite', { signal: controller.signal })) {
              if (++received === 2) controller.abort();
            }
          })());
          assert.equal(error.code, GrpcStatus.CANCELLED);
          const { aborted } = await within(recorder.infiniteFinally[finallyCount].promise, 10_000, 'the DoGet generator to finish');
          assert.equal(aborted, true);
        });

        test('a deadline ends the call with DEADLINE_EXCEEDED and aborts the handler signal', async () => {
          const contextsBefore = recorder.contexts.length;
          const error = await rejection(collect(client.doGetMessages('wait-for-cancel', { timeoutMs: 200 })));
          assert.equal(error.code, GrpcStatus.DEADLINE_EXCEEDED);
          const context = recorder.contexts.slice(contextsBefore).find((c) => c.method === 'DoGet');
          assert.ok(context);
          await within(new Promise<void>((resolve) => {
            if (context.signal.aborted) resolve();
            else context.signal.addEventListener('abort', () => resolve(), { once: true });
          }), 5000, 'the handler signal to abort');
        });
      });

      test('every FlightData body the server received was 8-byte aligned', () => {
        assert.ok(recorder.receivedBodies >= 10, `${recorder.receivedBodies} bodies received`);
        assert.equal(recorder.misalignedBodies, 0);
      });

      describe('concurrency', () => {
        test('many concurrent DoPuts each get their own acknowledgements and data', async () => {
          const count = 32;
          const uploads = Array.from({ length: count }, (_, k) => Array.from({ length: 1 + (k % 4) }, (_, j) => makeBatch(k * 100_000 + j * 1000, 200 + k)));
          const results = await Promise.all(uploads.map((batches, k) => client.doPut(pathDescriptor('concurrent', String(k)), schema, batches)));
          results.forEach((acks, k) => {
            const rows = uploads[k].length * (200 + k);
            assert.equal(acks.length, uploads[k].length + 1, `upload ${k}`);
            assert.deepEqual(JSON.parse(text(acks.at(-1)!.appMetadata)), { done: true, rows }, `upload ${k}`);
            const stored = recorder.puts.get(`concurrent/${k}`)!;
            assert.equal(stored.batches.length, uploads[k].length);
            stored.batches.forEach((batch, j) => assertBatchEqual(batch, uploads[k][j], `upload ${k} batch ${j}`));
          });
        });

        test('concurrent calls of different kinds on one client', async () => {
          const [table, info, actions, put] = await Promise.all([
            client.doGetTable('table'),
            client.getFlightInfo(pathDescriptor('c')),
            client.listActions(),
            client.doPut(pathDescriptor('concurrent', 'mixed'), schema, [makeBatch(0, 7)]),
          ]);
          assert.equal(table.numRows, 12);
          assert.equal(info.totalRecords, 12);
          assert.equal(actions.length, 2);
          assert.deepEqual(JSON.parse(text(put.at(-1)!.appMetadata)), { done: true, rows: 7 });
        });
      });
    });

    describe('unimplemented handlers', () => {
      let server: FlightServer;
      let client: FlightClient;
      const recorder = newRecorder();

      before(async () => {
        let address: string;
        ({ server, address } = await startServer({}, { ...recordingOptions(recorder), transport }));
        client = new FlightClient(address);
      });
      after(async () => {
        client.close();
        await server.shutdown(1000);
      });

      const calls: [string, (c: FlightClient) => Promise<unknown>][] = [
        ['Handshake', (c) => c.handshake(utf8('x'))],
        ['ListFlights', (c) => collect(c.listFlights())],
        ['GetFlightInfo', (c) => c.getFlightInfo(pathDescriptor('a'))],
        ['PollFlightInfo', (c) => c.pollFlightInfo(pathDescriptor('a'))],
        ['GetSchema', (c) => c.getSchema(pathDescriptor('a'))],
        ['DoGet', (c) => collect(c.doGetMessages('t'))],
        ['DoPut', (c) => c.doPut(pathDescriptor('a'), schema, [makeBatch(0, 2)])],
        ['DoExchange', (c) => collect(c.doExchange([new FlightDataEncoder(schema).schemaMessage()]))],
        ['DoAction', (c) => collect(c.doAction('x'))],
        ['ListActions', (c) => c.listActions()],
      ];
      for (const [method, call] of calls) {
        test(`${method} answers UNIMPLEMENTED`, async () => {
          const error = await rejection(call(client));
          assert.equal(error.code, GrpcStatus.UNIMPLEMENTED);
          assert.equal(error.message, `${method} is not implemented by this server`);
          assert.equal(error.errorCode, 'UNIMPLEMENTED');
          await within(waitForOutcome(recorder, (o) => o.method === method), 5000, 'onCallEnd');
          assert.equal(recorder.outcomes.find((o) => o.method === method)!.code, GrpcStatus.UNIMPLEMENTED);
        });
      }

      test('no onError for UNIMPLEMENTED', () => {
        assert.equal(recorder.errors.length, 0);
      });
    });

    describe('beforeCall', () => {
      let server: FlightServer;
      let address: string;
      const recorder = newRecorder();
      let handlerCalls = 0;

      before(async () => {
        const counting: FlightHandlers = {
          async getFlightInfo(descriptor) { handlerCalls++; return flightInfo(descriptor, 1); },
          async *doGet() { handlerCalls++; yield new FlightDataEncoder(schema).schemaMessage(); },
          async *doPut(messages) { handlerCalls++; for await (const _ of messages) { /* drain */ } yield { appMetadata: utf8('ok') }; },
          async *listActions() { handlerCalls++; yield { type: 'a', description: 'b' }; },
        };
        ({ server, address } = await startServer(counting, recordingOptions(recorder, {
          transport,
          async beforeCall(context) {
            await new Promise((resolve) => setImmediate(resolve));
            if (context.headers.authorization !== 'Bearer s3cret') {
              throw new FlightError(GrpcStatus.UNAUTHENTICATED, 'missing or invalid token', 'AUTH_REQUIRED');
            }
          },
        })));
      });
      after(async () => { await server.shutdown(1000); });

      test('UNAUTHENTICATED refuses unary, server-streaming and bidi calls before the handler runs', async () => {
        const client = new FlightClient(address, { token: 'wrong' });
        try {
          const before = handlerCalls;
          const errors = await Promise.all([
            client.getFlightInfo(pathDescriptor('a')),
            collect(client.doGetMessages('t')),
            client.doPut(pathDescriptor('a'), schema, Array.from({ length: 20 }, (_, i) => makeBatch(i * 100, 100))),
            client.listActions(),
          ].map(rejection));
          for (const error of errors) {
            assert.equal(error.code, GrpcStatus.UNAUTHENTICATED);
            assert.equal(error.message, 'missing or invalid token');
            assert.equal(error.errorCode, 'AUTH_REQUIRED');
          }
          assert.equal(handlerCalls, before, 'no handler ran');
          assert.equal(recorder.errors.length, 0);
        } finally {
          client.close();
        }
      });

      test('without a token the call is refused too', async () => {
        const client = new FlightClient(address);
        try {
          const error = await rejection(client.getFlightInfo(pathDescriptor('a')));
          assert.equal(error.code, GrpcStatus.UNAUTHENTICATED);
        } finally {
          client.close();
        }
      });

      test('the right token is let through', async () => {
        const client = new FlightClient(address, { token: 's3cret' });
        try {
          const before = handlerCalls;
          const info = await client.getFlightInfo(pathDescriptor('a'));
          assert.equal(info.totalRecords, 1);
          const table = await client.doGetTable('t');
          assert.equal(table.numRows, 0);
          const acks = await client.doPut(pathDescriptor('a'), schema, [makeBatch(0, 3)]);
          assert.deepEqual(acks.map((a) => text(a.appMetadata)), ['ok']);
          assert.equal(handlerCalls, before + 3);
        } finally {
          client.close();
        }
      });
    });

    describe('shutdown', () => {
      test('after shutdown, calls fail with UNAVAILABLE', async () => {
        const { server, address } = await startServer({ async *listActions() { yield { type: 't', description: '' }; } }, { transport });
        const client = new FlightClient(address);
        try {
          assert.equal((await client.listActions()).length, 1);
          await server.shutdown(1000);
          const error = await rejection(client.listActions({ timeoutMs: 5000 }));
          assert.equal(error.code, GrpcStatus.UNAVAILABLE);
        } finally {
          client.close();
        }
      });

      test('shutdown waits for a running call within its grace period', async () => {
        const release = deferred();
        const started = deferred();
        const { server, address } = await startServer({
          async getFlightInfo(descriptor) {
            started.resolve();
            await release.promise;
            return flightInfo(descriptor, 3);
          },
        }, { transport });
        const client = new FlightClient(address);
        try {
          const pending = client.getFlightInfo(pathDescriptor('slow'));
          await within(started.promise, 5000, 'the handler to start');
          const stopping = server.shutdown(5000);
          release.resolve();
          const info = await pending;
          assert.equal(info.totalRecords, 3);
          await within(stopping, 6000, 'shutdown');
        } finally {
          client.close();
        }
      });
    });

    describe('backpressure without listener leaks (server)', () => {
      test('a long DoGet to a slow reader keeps one abort listener at most', knownBug(transport, {
        'grpc-js': 'grpc-js-server.ts handleStream: Promise.race([once(call, "drain"), once(controller.signal, "abort")]) leaves an abort listener on the call signal after every drain',
        http2: 'http2-server.ts Http2Call.write: Promise.race([once(stream, "drain"), once(controller.signal, "abort")]) leaves an abort listener on the call signal after every drain',
      }), async () => {
        // With a 64 KiB window and a slow reader the server waits for 'drain' again and again
        // (~30 times for 480 messages of 16 KiB); each wait must remove its abort listener.
        const count = 480;
        const body = new Uint8Array(16 * 1024);
        let maxAbortListeners = 0;
        const { server, address } = await startServer({
          async *doGet(_, context) {
            for (let i = 0; i < count; i++) {
              yield { dataHeader: EMPTY, appMetadata: utf8(String(i)), dataBody: body };
              maxAbortListeners = Math.max(maxAbortListeners, getEventListeners(context.signal, 'abort').length);
            }
          },
        }, { flowControlWindowBytes: 64 * 1024, transport });
        const client = new FlightClient(address, { flowControlWindowBytes: 64 * 1024 });
        const warnings: string[] = [];
        const onWarning = (warning: Error) => { if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning.message); };
        process.on('warning', onWarning);
        try {
          let received = 0;
          for await (const message of client.doGetMessages('x')) {
            assert.equal(text(message.appMetadata), String(received));
            if (++received % 8 === 0) await new Promise((resolve) => setImmediate(resolve));
          }
          assert.equal(received, count);
          await new Promise((resolve) => setImmediate(resolve));
          assert.ok(maxAbortListeners <= 2, `${maxAbortListeners} abort listeners on the call signal`);
          assert.deepEqual(warnings, []);
        } finally {
          process.off('warning', onWarning);
          client.close();
          await server.shutdown(1000);
        }
      });

    });
  });
}

describe('locations', () => {
  test('parseLocation', () => {
    assert.equal(parseLocation('grpc://localhost:8815'), 'localhost:8815');
    assert.equal(parseLocation('grpc+tcp://10.1.2.3:99/'), '10.1.2.3:99');
    assert.equal(parseLocation('127.0.0.1:1'), '127.0.0.1:1');
    assert.throws(() => parseLocation('http://host:1/path'), /unsupported Flight location/);
  });

});

describe('backpressure without listener leaks (client)', () => {
  // Regression test: client.ts at a3b8579/b3d52fb raced once(call, 'drain') against once(call, 'close'),
  // leaving a 'close' and an 'error' listener behind after every drain (40 of each here).
  test('a long DoPut keeps a bounded number of listeners on the call (client)', async () => {
    const { server, address } = await startServer({
      async *doPut(messages) {
        let n = 0;
        for await (const _ of messages) n++;
        yield { appMetadata: utf8(String(n)) };
      },
    });
    const client = new FlightClient(address);
    // Deterministic backpressure: every write reports a full buffer, 'drain' follows shortly.
    const prototype = grpc.Client.prototype as unknown as { makeBidiStreamRequest: (...args: unknown[]) => grpc.ClientDuplexStream<unknown, unknown> };
    const original = prototype.makeBidiStreamRequest;
    const growth = { close: 0, error: 0, writes: 0 };
    prototype.makeBidiStreamRequest = function (this: unknown, ...args: unknown[]) {
      const call = original.apply(this, args);
      const base = { close: call.listenerCount('close'), error: call.listenerCount('error') };
      const write = call.write.bind(call) as (message: unknown) => boolean;
      call.write = ((message: unknown) => {
        write(message);
        growth.writes++;
        growth.close = Math.max(growth.close, call.listenerCount('close') - base.close);
        growth.error = Math.max(growth.error, call.listenerCount('error') - base.error);
        setImmediate(() => call.emit('drain'));
        return false;
      }) as typeof call.write;
      return call;
    };
    try {
      const count = 40;
      function* messages(): Generator<FlightData> {
        for (let i = 0; i < count; i++) yield { dataHeader: EMPTY, appMetadata: utf8(String(i)), dataBody: EMPTY };
      }
      const acks = await collect(client.doPutMessages(messages()));
      assert.deepEqual(acks.map((a) => text(a.appMetadata)), [String(count)]);
      assert.equal(growth.writes, count);
      assert.ok(growth.close <= 2 && growth.error <= 2, `listeners added over the call: ${JSON.stringify(growth)}`);
    } finally {
      prototype.makeBidiStreamRequest = original;
      client.close();
      await server.shutdown(1000);
    }
  });
});
