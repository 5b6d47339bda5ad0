/**
 * The server side of our HTTP/2 connection (Http2Listener, ServerConnection, ServerStream), on
 * both ways of reading accepted sockets (one reused read buffer, or 'data' events): against
 * node:http2 clients (round trips, flow control both ways, late readers, resets, close) and
 * raw clients scripted frame by frame (bad prefaces, protocol errors, the stream limit,
 * GOAWAY, PING); and Http2Transport through FlightServer (unknown method, shutdown).
 */
import { test, describe, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { setImmediate as nextImmediate, setTimeout as sleep } from 'node:timers/promises';
import { limit, pattern, sha256, until } from './http2-helpers.ts';
import { encodeHeaders } from '../src/http2/hpack.ts';
import { Http2Listener, type ServerConnection, type ServerConnectionOptions } from '../src/http2/server-connection.ts';
import type { ServerStream } from '../src/http2/server-stream.ts';
import {
  CONNECTION_PREFACE, FrameFlag, FrameReader, FrameType, Http2ErrorCode, Setting, frame, frameHeader, rstStreamFrame,
  settingsFrame, windowUpdateFrame,
} from '../src/http2/frames.ts';
import { FlightServer } from '../src/index.ts';

const MiB = 1024 * 1024;
const OPTIONS: ServerConnectionOptions = { windowBytes: MiB, frameBytesMax: MiB, streamQueuedBytesHigh: 256 * 1024, streamsMax: 100 };
const POST = { ':method': 'POST', ':path': '/x', 'content-type': 'application/octet-stream' };

/** Event names with repeats collapsed: ['data', 'data', 'end'] -> ['data', 'end']. */
const collapsed = (events: string[]) => events.filter((event, i) => event !== events[i - 1]);

// ---- listeners and clients, cleaned up after each test ----

const cleanups: Array<() => unknown> = [];
const cleanUp = async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup(); };
afterEach(cleanUp);
after(cleanUp);

/** A listener on an ephemeral port; `connections` lists every connection it accepted, in order. */
async function serve(reuseReadBuffer: boolean, onStream: (stream: ServerStream, headers: http2.IncomingHttpHeaders) => void,
  options: Partial<ServerConnectionOptions> = {}) {
  const connections: ServerConnection[] = [];
  const listener = new Http2Listener({ ...OPTIONS, ...options }, (stream, headers) => {
    stream.on('error', () => undefined);
    onStream(stream, headers);
  }, (connection) => connections.push(connection), reuseReadBuffer);
  const port = await listener.listen(0, '127.0.0.1');
  cleanups.push(async () => {
    for (const connection of listener.connections) connection.destroy();
    await listener.close();
  });
  return { port, listener, connections };
}

function h2connect(port: number): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  cleanups.push(() => session.destroy());
  return session;
}

interface Reply {
  headers?: http2.IncomingHttpHeaders;
  trailers?: http2.IncomingHttpHeaders;
  body: Buffer;
  error?: Error;
}

/** What the server answers on a node:http2 request, once it closes. */
function reply(request: http2.ClientHttp2Stream): Promise<Reply> {
  const out: Reply = { body: Buffer.alloc(0) };
  const chunks: Buffer[] = [];
  request.on('response', (headers) => { out.headers = headers; });
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('trailers', (trailers) => { out.trailers = trailers; });
  request.on('error', (error) => { out.error = error; });
  return new Promise((resolve) => request.on('close', () => {
    out.body = Buffer.concat(chunks);
    resolve(out);
  }));
}

/** Writes `data` in `chunkBytes` pieces, waiting for 'drain' when write() asks, then ends; resolves to the number of waits. */
async function upload(stream: { write(chunk: Uint8Array): boolean; end(): void } & NodeJS.EventEmitter, data: Buffer,
  chunkBytes: number): Promise<number> {
  let drains = 0;
  for (let offset = 0; offset < data.length; offset += chunkBytes) {
    if (!stream.write(data.subarray(offset, offset + chunkBytes))) {
      drains++;
      await once(stream, 'drain');
    }
  }
  stream.end();
  return drains;
}

/** A handler answering 200 with `text` once the request has ended. */
const answer = (text: string) => (stream: ServerStream) => {
  stream.on('data', () => undefined);
  stream.on('end', () => {
    stream.respond({ ':status': 200 });
    stream.write(Buffer.from(text));
    stream.end();
  });
};

// ---- a raw client speaking HTTP/2 frame by frame ----

interface RawFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

class RawClient {
  readonly frames: RawFrame[] = [];
  readonly closed: Promise<unknown>;
  private dataPieces: Buffer[] = [];
  private waiter: (() => void) | undefined;
  private readonly reader = new FrameReader({
    dataStart: () => { this.dataPieces = []; },
    dataPiece: (_streamId, piece) => { this.dataPieces.push(Buffer.from(piece)); },
    dataEnd: (streamId, flags) => this.add({ type: FrameType.DATA, flags, streamId, payload: Buffer.concat(this.dataPieces) }),
    frame: (type, flags, streamId, payload) => this.add({ type, flags, streamId, payload }),
  }, 1 << 24);

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.reader.push(chunk));
    socket.on('error', () => undefined);
    this.closed = once(socket, 'close');
    cleanups.push(() => socket.destroy());
  }

  /** Connects and, unless `preface` is false, sends the connection preface and an empty SETTINGS frame. */
  static async open(port: number, preface = true): Promise<RawClient> {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const client = new RawClient(socket);
    if (preface) client.send(CONNECTION_PREFACE, settingsFrame([]), windowUpdateFrame(0, 64 * MiB));
    return client;
  }

  send(...bytes: Buffer[]): void {
    this.socket.write(Buffer.concat(bytes));
  }

  /** A request's HEADERS frame (END_STREAM when `endStream`). */
  static headers(streamId: number, endStream: boolean, path = '/x'): Buffer {
    const block = encodeHeaders([[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', 'localhost']]);
    return frame(FrameType.HEADERS, FrameFlag.END_HEADERS | (endStream ? FrameFlag.END_STREAM : 0), streamId, Buffer.from(block));
  }

  /** The first frame the server sent (or sends) that matches. */
  async next(type: number, streamId?: number, flags = 0): Promise<RawFrame> {
    for (;;) {
      const found = this.frames.find((f) => f.type === type && (streamId === undefined || f.streamId === streamId)
        && (f.flags & flags) === flags);
      if (found) return found;
      await new Promise<void>((resolve) => { this.waiter = resolve; });
    }
  }

  /** The body the server sent on `streamId`, once it ended. */
  async body(streamId: number): Promise<string> {
    await this.next(FrameType.DATA, streamId, FrameFlag.END_STREAM);
    const data = this.frames.filter((f) => f.type === FrameType.DATA && f.streamId === streamId);
    return Buffer.concat(data.map((f) => f.payload)).toString();
  }

  private add(raw: RawFrame): void {
    this.frames.push(raw);
    this.waiter?.();
  }
}

for (const reuseReadBuffer of [true, false]) {
  describe(`Http2Listener (reuseReadBuffer ${reuseReadBuffer})`, () => {
    describe('with node:http2 clients', () => {
      test('request headers and a 5 MB body reach the handler; a 6 MB response and trailers reach the client', limit, async () => {
        const request = pattern(5 * MiB + 123, 3);
        const response = pattern(6 * MiB + 77, 5);
        let seen: http2.IncomingHttpHeaders | undefined;
        let drains = -1;
        const { port } = await serve(reuseReadBuffer, (stream, headers) => {
          seen = headers;
          const hash = createHash('sha256');
          let bytes = 0;
          stream.on('data', (chunk: Buffer) => { hash.update(chunk); bytes += chunk.length; });
          stream.on('end', async () => {
            stream.respond({ ':status': 200, 'x-reply': 'yes' }, { waitForTrailers: true });
            stream.on('wantTrailers', () => stream.sendTrailers({ 'x-request-bytes': String(bytes), 'x-request-sha256': hash.digest('hex') }));
            drains = await upload(stream, response, 100_000);
          });
        });
        const session = h2connect(port);
        const stream = session.request({ ...POST, ':path': '/echo?q=1', 'x-custom': 'hello' });
        const outcome = reply(stream);
        await upload(stream, request, 64 * 1024);
        const { headers, body, trailers, error } = await outcome;
        assert.equal(error, undefined);
        assert.equal(seen?.[':method'], 'POST');
        assert.equal(seen?.[':path'], '/echo?q=1');
        assert.equal(seen?.['x-custom'], 'hello');
        assert.equal(headers?.[':status'], 200);
        assert.equal(headers?.['x-reply'], 'yes');
        assert.equal(body.length, response.length);
        assert.equal(sha256(body), sha256(response));
        assert.equal(trailers?.['x-request-bytes'], String(request.length));
        assert.equal(trailers?.['x-request-sha256'], sha256(request));
        assert.ok(drains > 0, 'write() never asked the handler to wait for drain');
      });

      test('a paused stream holds a 40 MB upload to about one window; after resume all arrives intact', limit, async () => {
        const total = 40 * MiB;
        const data = pattern(total, 1);
        let server: ServerStream | undefined;
        let received = 0;
        let mismatch = -1;
        const { port, connections } = await serve(reuseReadBuffer, (stream) => {
          server = stream;
          stream.on('data', (chunk: Buffer) => {
            if (mismatch < 0 && !chunk.equals(data.subarray(received, received + chunk.length))) mismatch = received;
            received += chunk.length;
            if (received === chunk.length) stream.pause(); // after the first data only
          });
          stream.on('end', () => {
            stream.respond({ ':status': 200 });
            stream.write(Buffer.from(String(received)));
            stream.end();
          });
        });
        const stream = h2connect(port).request(POST);
        const outcome = reply(stream);
        const uploaded = upload(stream, data, 256 * 1024);
        await sleep(300);
        assert.ok(server?.isPaused());
        const bytesRead = connections[0].remoteSocket.bytesRead;
        assert.ok(received < MiB, `${received} bytes handed on although paused`);
        assert.ok(bytesRead > MiB / 2, `the client sent only ${bytesRead} bytes`);
        assert.ok(bytesRead < 1.5 * MiB, `the client got ${bytesRead} bytes ahead of a paused reader with a 1 MiB window`);
        server!.resume();
        await uploaded;
        const { body, error } = await outcome;
        assert.equal(error, undefined);
        assert.equal(body.toString(), String(total));
        assert.equal(mismatch, -1, `bytes differ from offset ${mismatch}`);
      });

      const lateReaders: Array<[string, () => Promise<unknown>, string]> = [
        ['two setImmediate turns late', async () => { await nextImmediate(); await nextImmediate(); }, 'a small body, sent with END_STREAM'],
        ['50 ms late', () => sleep(50), 'a small body, sent with END_STREAM'],
        ['50 ms late, to a request ended by its HEADERS,', () => sleep(50), ''],
      ];
      for (const [late, wait, text] of lateReaders) {
        test(`a reader attached ${late} gets the whole body and 'end'`, limit, async () => {
          const events: string[] = [];
          const { port } = await serve(reuseReadBuffer, async (stream) => {
            await wait();
            const chunks: Buffer[] = [];
            stream.on('data', (chunk: Buffer) => { events.push('data'); chunks.push(Buffer.from(chunk)); });
            stream.on('end', () => {
              events.push('end');
              stream.respond({ ':status': 200 });
              stream.write(Buffer.concat([Buffer.from('echo:'), ...chunks]));
              stream.end();
            });
          });
          const request = h2connect(port).request(POST, { endStream: text === '' });
          const outcome = reply(request);
          if (text !== '') request.end(text);
          const { body, error } = await outcome;
          assert.equal(error, undefined);
          assert.equal(body.toString(), `echo:${text}`);
          assert.deepEqual(collapsed(events), text === '' ? ['end'] : ['data', 'end']);
        });
      }
      test('paused streams together hold about two windows: the connection window is not credited past that', limit, async () => {
        const waiting: ServerStream[] = [];
        const { port, connections } = await serve(reuseReadBuffer, (stream) => { waiting.push(stream); }); // nobody reads yet
        const session = h2connect(port);
        const streams = 6;
        const data = pattern(MiB - 1024, 3); // each within its stream's 1 MiB window
        const outcomes = Array.from({ length: streams }, () => {
          const request = session.request(POST);
          const outcome = reply(request);
          request.end(data);
          return outcome;
        });
        await until(() => waiting.length === streams);
        await sleep(300);
        const held = connections[0].remoteSocket.bytesRead;
        assert.ok(held > 2 * MiB, `only ${held} bytes arrived: the test does not reach the limit`);
        assert.ok(held < 3.6 * MiB, `${held} bytes arrived for ${streams} paused streams with 1 MiB windows (limit about 2 windows)`);
        for (const stream of waiting) {
          let bytes = 0;
          stream.on('data', (chunk: Buffer) => { bytes += chunk.length; });
          stream.on('end', () => {
            stream.respond({ ':status': 200 });
            stream.write(Buffer.from(String(bytes)));
            stream.end();
          });
        }
        for (const { body, error } of await Promise.all(outcomes)) {
          assert.equal(error, undefined);
          assert.equal(body.toString(), String(data.length));
        }
      });
    });

    describe('with raw clients', () => {
      test('a PING gets a PING ACK with the same 8 bytes', limit, async () => {
        const { port } = await serve(reuseReadBuffer, answer('unused'));
        const client = await RawClient.open(port);
        const opaque = Buffer.from('8 bytes!');
        client.send(frame(FrameType.PING, 0, 0, opaque));
        const ack = await client.next(FrameType.PING, 0, FrameFlag.ACK);
        assert.deepEqual(ack.payload, opaque);
        assert.equal(ack.streamId, 0);
      });

      test('an accept error (EMFILE) while listening does not throw; the listener goes on serving', limit, async () => {
        const { port, listener } = await serve(reuseReadBuffer, answer('served'));
        const server = (listener as unknown as { server: net.Server }).server;
        server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' }));
        const request = h2connect(port).request(POST, { endStream: true });
        assert.equal((await reply(request)).body.toString(), 'served');
      });

      test('a preface that arrives in pieces is accepted', limit, async () => {
        const { port } = await serve(reuseReadBuffer, answer('unused'));
        const client = await RawClient.open(port, false);
        client.send(CONNECTION_PREFACE.subarray(0, 5));
        await sleep(20);
        client.send(CONNECTION_PREFACE.subarray(5), settingsFrame([]), frame(FrameType.PING, 0, 0, Buffer.alloc(8, 7)));
        const ack = await client.next(FrameType.PING, 0, FrameFlag.ACK);
        assert.deepEqual(ack.payload, Buffer.alloc(8, 7));
      });

      const badPrefaces: Array<[string, Buffer]> = [
        ['an HTTP/1.1 request', Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')],
        ['a preface wrong from its 10th byte', Buffer.concat([CONNECTION_PREFACE.subarray(0, 9), Buffer.from('HTTP/1.1\r\n\r\nSM\r\n\r\n')])],
      ];
      for (const [what, bytes] of badPrefaces) {
        test(`${what} instead of the preface: that socket is closed, other clients are served`, limit, async () => {
          const { port, listener } = await serve(reuseReadBuffer, answer('served'));
          const client = await RawClient.open(port, false);
          client.send(bytes);
          await client.closed;
          await until(() => listener.connections.size === 0);
          const request = h2connect(port).request(POST, { endStream: true });
          assert.equal((await reply(request)).body.toString(), 'served');
        });
      }

      const malformed: Array<[string, Buffer, number]> = [
        ['a WINDOW_UPDATE with a 3-byte payload', frame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(3, 1)), Http2ErrorCode.FRAME_SIZE_ERROR],
        ['DATA on stream 0', frame(FrameType.DATA, 0, 0, Buffer.from('data')), Http2ErrorCode.PROTOCOL_ERROR],
        ['HEADERS on an even stream', RawClient.headers(2, true), Http2ErrorCode.PROTOCOL_ERROR],
        ['a CONTINUATION without HEADERS', frame(FrameType.CONTINUATION, FrameFlag.END_HEADERS, 3, Buffer.from([0x82])), Http2ErrorCode.PROTOCOL_ERROR],
        ['a bad HPACK block', frame(FrameType.HEADERS, FrameFlag.END_HEADERS, 3, Buffer.from([0x80])), Http2ErrorCode.COMPRESSION_ERROR],
        ['a PING with 7 bytes', frame(FrameType.PING, 0, 0, Buffer.alloc(7)), Http2ErrorCode.FRAME_SIZE_ERROR],
        ['a frame over MAX_FRAME_SIZE', frameHeader(MiB + 1, FrameType.DATA, 0, 1), Http2ErrorCode.FRAME_SIZE_ERROR],
        ['a connection WINDOW_UPDATE of 0', windowUpdateFrame(0, 0), Http2ErrorCode.PROTOCOL_ERROR],
        ['1.2 MiB of DATA on a paused stream with a 1 MiB window', Buffer.concat([
          frame(FrameType.DATA, 0, 1, Buffer.alloc(600 * 1024)), frame(FrameType.DATA, 0, 1, Buffer.alloc(600 * 1024)),
        ]), Http2ErrorCode.FLOW_CONTROL_ERROR],
        ['a header block continued by 30,000 empty CONTINUATION frames', Buffer.concat([
          frame(FrameType.HEADERS, 0, 3, Buffer.from([0x82])), ...Array.from({ length: 30_000 }, () => frame(FrameType.CONTINUATION, 0, 3)),
        ]), Http2ErrorCode.PROTOCOL_ERROR],
        ['a header block repeating one field 40,000 times', frame(FrameType.HEADERS, FrameFlag.END_HEADERS, 3, Buffer.alloc(40_000, 0x82)),
          Http2ErrorCode.ENHANCE_YOUR_CALM],
      ];
      for (const [what, bytes, code] of malformed) {
        test(`${what} gets GOAWAY(1, ${code}), fails the open stream and closes that connection only`, limit, async () => {
          const events: string[] = [];
          const { port, listener } = await serve(reuseReadBuffer, (stream, headers) => {
            if (headers[':path'] === '/held') for (const event of ['error', 'close']) stream.on(event, () => events.push(event));
            else answer('other connection')(stream);
          });
          const client = await RawClient.open(port);
          client.send(RawClient.headers(1, false, '/held'));
          const other = h2connect(port);
          await once(other, 'connect');
          await until(() => listener.connections.size === 2);
          client.send(bytes);
          const goAway = await client.next(FrameType.GOAWAY);
          assert.equal(goAway.payload.readUInt32BE(0), 1);
          assert.equal(goAway.payload.readUInt32BE(4), code);
          await client.closed;
          await until(() => events.includes('close'));
          assert.deepEqual(events, ['error', 'close']);
          assert.equal(listener.connections.size, 1);
          const request = other.request(POST);
          request.end();
          assert.equal((await reply(request)).body.toString(), 'other connection');
        });
      }

      test('streams beyond streamsMax (2) are refused with RST_STREAM(REFUSED_STREAM); the first two complete', limit, async () => {
        const held: ServerStream[] = [];
        const { port } = await serve(reuseReadBuffer, (stream) => {
          held.push(stream);
          stream.on('data', () => undefined);
        }, { streamsMax: 2 });
        const client = await RawClient.open(port);
        client.send(RawClient.headers(1, true), RawClient.headers(3, true), RawClient.headers(5, true));
        const refused = await client.next(FrameType.RST_STREAM);
        assert.equal(refused.streamId, 5);
        assert.equal(refused.payload.readUInt32BE(0), Http2ErrorCode.REFUSED_STREAM);
        assert.equal(held.length, 2);
        held.forEach((stream, i) => {
          stream.respond({ ':status': 200 });
          stream.write(Buffer.from(`reply ${i}`));
          stream.end();
        });
        assert.equal(await client.body(1), 'reply 0');
        assert.equal(await client.body(3), 'reply 1');
        client.send(RawClient.headers(7, true)); // the slots are free again
        await until(() => held.length === 3);
        assert.equal(client.frames.filter((f) => f.type === FrameType.RST_STREAM).length, 1);
      });

      test('a handler that answers without reading the request still frees its stream', limit, async () => {
        let streams = 0;
        const { port } = await serve(reuseReadBuffer, (stream) => {
          streams++;
          stream.respond({ ':status': 404 }, { endStream: true });
        }, { streamsMax: 1 });
        const client = await RawClient.open(port);
        client.send(RawClient.headers(1, false), frame(FrameType.DATA, FrameFlag.END_STREAM, 1, Buffer.from('unread')));
        await client.next(FrameType.HEADERS, 1, FrameFlag.END_STREAM);
        client.send(RawClient.headers(3, true), frame(FrameType.PING, 0, 0, Buffer.alloc(8)));
        await client.next(FrameType.PING, 0, FrameFlag.ACK); // frames before the PING have been handled
        assert.equal(client.frames.filter((f) => f.type === FrameType.RST_STREAM && f.streamId === 3).length, 0, 'stream 3 was refused');
        assert.equal(streams, 2);
        // Stream 1 was answered before its request ended: the client is told to stop sending.
        const reset = client.frames.find((f) => f.type === FrameType.RST_STREAM && f.streamId === 1);
        assert.equal(reset?.payload.readUInt32BE(0), Http2ErrorCode.NO_ERROR);
      });

      test('a client that opens and resets streams in a loop (rapid reset) is cut off with ENHANCE_YOUR_CALM', limit, async () => {
        let opened = 0;
        const { port } = await serve(reuseReadBuffer, () => { opened++; });
        const client = await RawClient.open(port);
        const burst: Buffer[] = [];
        for (let id = 1; id < 2 * 1500; id += 2) burst.push(RawClient.headers(id, false), rstStreamFrame(id, Http2ErrorCode.CANCEL));
        client.send(...burst);
        const goAway = await client.next(FrameType.GOAWAY);
        assert.equal(goAway.payload.readUInt32BE(4), Http2ErrorCode.ENHANCE_YOUR_CALM);
        assert.ok(opened <= 1100, `${opened} streams reached the handler (budget 1,000 plus 200 a second)`);
      });

      test('close(): GOAWAY(last stream, NO_ERROR), new streams refused, the open stream finishes, then the connection (and listener) closes', limit, async () => {
        let held: ServerStream | undefined;
        const { port, listener, connections } = await serve(reuseReadBuffer, (stream) => {
          held = stream;
          stream.on('data', () => undefined);
        });
        const client = await RawClient.open(port);
        client.send(RawClient.headers(1, true));
        await until(() => held !== undefined);
        const connection = connections[0];
        const closed = once(connection, 'close');
        let listenerClosed = false;
        const listenerClosing = listener.close().then(() => { listenerClosed = true; });
        connection.close();
        const goAway = await client.next(FrameType.GOAWAY);
        assert.equal(goAway.payload.readUInt32BE(0), 1);
        assert.equal(goAway.payload.readUInt32BE(4), Http2ErrorCode.NO_ERROR);
        client.send(RawClient.headers(3, true));
        const refused = await client.next(FrameType.RST_STREAM, 3);
        assert.equal(refused.payload.readUInt32BE(0), Http2ErrorCode.REFUSED_STREAM);
        await sleep(20);
        assert.equal(connection.destroyed, false);
        assert.equal(listenerClosed, false, 'the listener closed under an open connection');
        held!.respond({ ':status': 200 });
        held!.write(Buffer.from('finished after GOAWAY'));
        held!.end();
        assert.equal(await client.body(1), 'finished after GOAWAY');
        await Promise.all([client.closed, closed, listenerClosing]);
        assert.equal(connection.destroyed, true);
        assert.equal(listener.connections.size, 0);
      });

      test('a client that sends PINGs but reads nothing is cut off (GOAWAY, ENHANCE_YOUR_CALM); others are served', limit, async () => {
        const { port, connections } = await serve(reuseReadBuffer, answer('served'));
        const client = await RawClient.open(port);
        client.socket.pause();
        const pings = Buffer.concat(Array.from({ length: 10_000 }, () => frame(FrameType.PING, 0, 0, Buffer.alloc(8))));
        for (let i = 0; i < 100 && !connections[0]?.destroyed; i++) {
          client.send(pings);
          await nextImmediate();
        }
        await until(() => connections[0].destroyed);
        const request = h2connect(port).request(POST, { endStream: true });
        assert.equal((await reply(request)).body.toString(), 'served');
      });

      test('SETTINGS frames repeating INITIAL_WINDOW_SIZE 170,000 times each, with 1,000 streams open, are handled promptly', limit, async () => {
        const held: ServerStream[] = [];
        const { port } = await serve(reuseReadBuffer, (stream) => { held.push(stream); }, { streamsMax: 1000 });
        const client = await RawClient.open(port);
        client.send(...Array.from({ length: 1000 }, (_, i) => RawClient.headers(2 * i + 1, true)));
        await until(() => held.length === 1000);
        const entries = Array.from({ length: Math.floor(MiB / 6) }, (_, i) => [Setting.INITIAL_WINDOW_SIZE, i % 2 === 0 ? MiB : 65_535] as const);
        const settings = settingsFrame(entries);
        const started = performance.now();
        client.send(...Array.from({ length: 10 }, () => settings), frame(FrameType.PING, 0, 0, Buffer.from('settled!')));
        await client.next(FrameType.PING, 0, FrameFlag.ACK);
        const took = performance.now() - started;
        assert.ok(took < 1000, `10 SETTINGS frames took ${Math.round(took)} ms`);
      });

      for (const late of [false, true]) {
        test(`DATA after the request's END_STREAM is not handed to ${late ? 'a late' : 'the'} reader`, limit, async () => {
          const { port } = await serve(reuseReadBuffer, async (stream) => {
            if (late) await sleep(50);
            const chunks: Buffer[] = [];
            stream.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
            stream.on('end', () => setTimeout(() => {
              stream.respond({ ':status': 200 });
              stream.write(Buffer.concat([Buffer.from('got:'), ...chunks]));
              stream.end();
            }, 20));
          });
          const client = await RawClient.open(port);
          client.send(RawClient.headers(1, false), frame(FrameType.DATA, FrameFlag.END_STREAM, 1, Buffer.from('request')),
            frame(FrameType.DATA, 0, 1, Buffer.from('+smuggled')));
          assert.equal(await client.body(1), 'got:request');
        });
      }

      test('destroy() after close() ends the socket even when the client reads nothing', limit, async () => {
        let held: ServerStream | undefined;
        const { port, connections } = await serve(reuseReadBuffer, (stream) => {
          held = stream;
          stream.on('data', () => undefined);
        });
        const client = await RawClient.open(port);
        client.socket.pause();
        client.send(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 64 * MiB]]), RawClient.headers(1, true));
        await until(() => held !== undefined);
        held!.respond({ ':status': 200 });
        held!.write(pattern(32 * MiB));
        await until(() => connections[0].remoteSocket.writableLength > 0);
        connections[0].close();
        held!.close();
        connections[0].destroy();
        assert.equal(connections[0].remoteSocket.destroyed, true);
      });

      const resets: Array<[string, number, string[]]> = [
        ['CANCEL', Http2ErrorCode.CANCEL, ['data', 'close']],
        ['INTERNAL_ERROR', Http2ErrorCode.INTERNAL_ERROR, ['data', 'error', 'close']],
      ];
      for (const [name, code, expected] of resets) {
        test(`RST_STREAM(${name}) on an open stream: the server stream emits ${expected.join(', ')}; the connection goes on`, limit, async () => {
          const events: string[] = [];
          const { port } = await serve(reuseReadBuffer, (stream, headers) => {
            if (headers[':path'] !== '/reset') return answer('fine')(stream);
            for (const event of ['data', 'end', 'error', 'close']) stream.on(event, () => events.push(event));
            stream.respond({ ':status': 200 });
            stream.write(Buffer.from('first'));
          });
          const client = await RawClient.open(port);
          client.send(RawClient.headers(1, false, '/reset'), frame(FrameType.DATA, 0, 1, Buffer.from('part of the request')));
          await until(() => events.includes('data'));
          client.send(rstStreamFrame(1, code), RawClient.headers(3, true));
          assert.equal(await client.body(3), 'fine');
          assert.deepEqual(collapsed(events), expected);
        });
      }
    });
  });
}

describe('Http2Transport through FlightServer', () => {
  const SERVICE = '/arrow.flight.protocol.FlightService';
  const GRPC = { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' };

  async function flightServer(entered?: () => void): Promise<{ server: FlightServer; port: number }> {
    const server = new FlightServer({
      async* listActions() {
        entered?.();
        await sleep(200);
        yield { type: 'slow', description: 'answered after shutdown began' };
      },
    });
    const port = await server.listen('127.0.0.1:0');
    cleanups.push(() => server.shutdown(0));
    return { server, port };
  }

  test('an unknown method gets a trailers-only response with grpc-status 12 (UNIMPLEMENTED)', limit, async () => {
    const { port } = await flightServer();
    const request = h2connect(port).request({ ...GRPC, ':path': `${SERVICE}/NoSuchMethod` });
    request.end(Buffer.alloc(5));
    const { headers, trailers, body, error } = await reply(request);
    assert.equal(error, undefined);
    assert.equal(headers?.[':status'], 200);
    assert.equal(headers?.['grpc-status'], '12');
    assert.match(String(headers?.['grpc-message']), /unknown method/);
    assert.equal(trailers, undefined);
    assert.equal(body.length, 0);
  });

  test('shutdown(graceMs) with an idle connection open resolves promptly', limit, async () => {
    const { server, port } = await flightServer();
    const session = h2connect(port);
    await once(session, 'connect');
    const pinged = await new Promise((resolve) => session.ping((error) => resolve(error))); // the server has the connection
    assert.equal(pinged, null);
    const started = performance.now();
    await server.shutdown(3_000);
    const took = performance.now() - started;
    assert.ok(took < 500, `shutdown took ${Math.round(took)} ms`);
    if (!session.closed) await once(session, 'close');
  });

  test('shutdown(graceMs) lets a running call finish', limit, async () => {
    let entered = false;
    const { server, port } = await flightServer(() => { entered = true; });
    const request = h2connect(port).request({ ...GRPC, ':path': `${SERVICE}/ListActions` });
    request.end(Buffer.alloc(5)); // one empty message
    const outcome = reply(request);
    await until(() => entered);
    const started = performance.now();
    await server.shutdown(3_000);
    const took = performance.now() - started;
    const { trailers, body, error } = await outcome;
    assert.equal(error, undefined);
    assert.equal(trailers?.['grpc-status'], '0');
    assert.match(body.toString(), /answered after shutdown began/);
    assert.ok(took > 100 && took < 2_000, `shutdown took ${Math.round(took)} ms`);
  });
});
