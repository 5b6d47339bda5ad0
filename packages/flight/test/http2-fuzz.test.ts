/**
 * Wire-level fuzzing of the server's own HTTP/2 transport: a valid gRPC DoPut and DoGet, as the
 * bytes a client sends, are damaged at random (bytes flipped, cut short, spliced, frames
 * repeated or dropped) and sent on raw sockets. Whatever comes back, the server must not throw,
 * must close or answer each damaged connection, and must go on serving a real client.
 * Seeded: a failure names its seed and case, and FUZZ_SEED / FUZZ_CASES replay or extend it.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Field, FixedSizeList, Float32, Int64, Schema, vectorFromArray } from 'apache-arrow';
import {
  FlightClient, FlightServer, encodeFlightData, encodeRecordBatches, pathDescriptor, schemaHeader, type FlightHandlers,
} from '../src/index.ts';
import { codecs } from '../src/protocol.ts';
import { encodeHeaders } from '../src/http2/hpack.ts';
import { CONNECTION_PREFACE, FrameFlag, FrameType, Setting, frame, settingsFrame, windowUpdateFrame } from '../src/http2/frames.ts';
import { messagePrefix } from '../src/transport/grpc-framing.ts';
import { batchOf, prng } from './helpers.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261205);
const CASES = Number(process.env.FUZZ_CASES ?? 2000);
/** How long a damaged connection may stay open without an answer before the case fails. */
const CASE_TIMEOUT_MS = 3000;

const handlers: FlightHandlers = {
  async *doPut(messages) {
    for await (const _ of messages) yield { appMetadata: new Uint8Array(0) };
  },
  async *listActions() {
    yield { type: 'ping', description: 'answers' };
  },
  async *doGet() {
    yield { dataHeader: schemaHeader(new Schema([new Field('id', new Int64(), false)])), appMetadata: new Uint8Array(0), dataBody: new Uint8Array(0) };
  },
};

/** One gRPC message (prefix + serialized FlightData) per item. */
function grpcMessage(bytes: Uint8Array): Buffer {
  return Buffer.concat([messagePrefix(bytes.length), bytes]);
}

/** The frames of a valid client connection: preface, SETTINGS, a DoPut with two messages, a DoGet. */
function validFrames(authority: string): Buffer[] {
  const batch = batchOf({
    id: vectorFromArray([1n, 2n, 3n], new Int64()),
    vector: vectorFromArray([[1, 2], [3, 4], [5, 6]], new FixedSizeList(2, new Field('item', new Float32(), false))),
  });
  const messages = [...encodeRecordBatches(batch.schema, [batch], pathDescriptor('fuzz'))];
  const put = Buffer.concat(messages.map((message) => grpcMessage(encodeFlightData(message))));
  const headers = (path: string) => encodeHeaders([
    [':method', 'POST'], [':scheme', 'http'], [':path', `/arrow.flight.protocol.FlightService/${path}`],
    [':authority', authority], ['content-type', 'application/grpc'], ['te', 'trailers'],
  ]);
  const ticket = grpcMessage(codecs.Ticket.encode({ ticket: Buffer.from('fuzz') }));
  return [
    CONNECTION_PREFACE,
    settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 1 << 20], [Setting.ENABLE_PUSH, 0]]),
    windowUpdateFrame(0, 1 << 20),
    frame(FrameType.HEADERS, FrameFlag.END_HEADERS, 1, headers('DoPut')),
    frame(FrameType.DATA, 0, 1, put.subarray(0, 40)),
    frame(FrameType.DATA, FrameFlag.END_STREAM, 1, put.subarray(40)),
    frame(FrameType.HEADERS, FrameFlag.END_HEADERS, 3, headers('DoGet')),
    frame(FrameType.DATA, FrameFlag.END_STREAM, 3, ticket),
  ];
}

/** A damaged copy of the frames, chosen by `random`. */
function damage(frames: Buffer[], random: () => number): Buffer {
  const pick = (n: number) => Math.floor(random() * n);
  let parts = frames.map((part) => Buffer.from(part));
  const kind = pick(6);
  if (kind === 0) parts.splice(pick(parts.length), 1); // a frame dropped
  if (kind === 1) parts.splice(pick(parts.length), 0, parts[pick(parts.length)]); // a frame repeated
  if (kind === 2) parts = parts.slice(0, 1 + pick(parts.length)); // the connection stops early
  let bytes = Buffer.concat(parts);
  if (kind === 3 || kind === 4 || kind === 5) {
    const flips = 1 + pick(kind === 5 ? 40 : 4);
    // Mostly past the preface (a damaged preface is refused at once), sometimes anywhere.
    const start = random() < 0.9 ? CONNECTION_PREFACE.length : 0;
    for (let i = 0; i < flips; i++) bytes[start + pick(bytes.length - start)] = pick(256);
  }
  if (kind === 4) bytes = bytes.subarray(0, pick(bytes.length)); // and cut short
  return bytes;
}

/** Sends `bytes`, half-closes, and resolves once the server closed the socket or `timeoutMs` passed. */
function sendAndWait(port: number, bytes: Buffer, timeoutMs: number): Promise<'closed' | 'open'> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let settled = false;
    const finish = (outcome: 'closed' | 'open') => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish('open'), timeoutMs);
    socket.on('error', () => finish('closed'));
    socket.on('close', () => finish('closed'));
    socket.on('data', () => undefined);
    socket.write(bytes, () => socket.end());
  });
}

describe('fuzzed HTTP/2 input to the server', () => {
  let server: FlightServer;
  let port: number;

  before(async () => {
    server = new FlightServer(handlers);
    port = await server.listen('127.0.0.1:0');
  });

  after(async () => {
    await server.shutdown(1000);
  });

  test('the valid byte stream is served (the fuzzer starts from a correct call)', async () => {
    const outcome = await sendAndWait(port, Buffer.concat(validFrames(`127.0.0.1:${port}`)), CASE_TIMEOUT_MS);
    assert.equal(outcome, 'closed', 'a client that half-closes after its calls is answered and let go');
  });

  test(`${CASES} damaged connections (seed ${SEED}): none hangs, none breaks the server`, async () => {
    const random = prng(SEED);
    const frames = validFrames(`127.0.0.1:${port}`);
    for (let round = 0; round < CASES; round += 10) {
      // Ten connections at a time, as concurrent clients would be.
      const cases = Array.from({ length: Math.min(10, CASES - round) }, () => damage(frames, random));
      const outcomes = await Promise.all(cases.map((bytes) => sendAndWait(port, bytes, CASE_TIMEOUT_MS)));
      outcomes.forEach((outcome, index) => {
        assert.equal(outcome, 'closed', `seed ${SEED}, case ${round + index}: the server left a half-closed connection open`);
      });
    }
    const client = new FlightClient(`grpc://127.0.0.1:${port}`);
    try {
      assert.deepEqual(await client.listActions(), [{ type: 'ping', description: 'answers' }]);
    } finally {
      client.close();
    }
  });
});
