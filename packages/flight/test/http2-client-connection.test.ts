/**
 * The client's own HTTP/2 connection against node:http2 servers (round trips, flow control
 * both ways, the server's stream limit, resets, GOAWAY, refused connections) and against a
 * raw TCP server scripted frame by frame (PING, malformed frames, bad HPACK).
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { limit, pattern, sha256, until } from './http2-helpers.ts';
import { encodeHeaders } from '../src/http2/hpack.ts';
import { ClientConnection } from '../src/http2/client-connection.ts';
import type { ClientStream } from '../src/http2/client-stream.ts';
import {
  CONNECTION_PREFACE, FrameFlag, FrameReader, FrameType, Http2ErrorCode, frame, settingsFrame, windowUpdateFrame,
} from '../src/http2/frames.ts';

const MiB = 1024 * 1024;
const POST = { ':method': 'POST', ':path': '/x', 'content-type': 'application/grpc', te: 'trailers' };

// ---- servers, cleaned up after each describe block ----

const cleanups: Array<() => void> = [];
after(() => cleanups.splice(0).forEach((cleanup) => cleanup()));

async function h2Server(options: http2.ServerOptions,
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, session: http2.ServerHttp2Session) => void,
): Promise<{ authority: string; server: http2.Http2Server }> {
  const server = http2.createServer(options);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => undefined);
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    onStream(stream, headers, stream.session as http2.ServerHttp2Session);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    for (const session of sessions) session.destroy();
    server.close();
  });
  return { authority: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, server };
}

function connect(authority: string, windowBytes = MiB): ClientConnection {
  const connection = new ClientConnection(authority, { windowBytes, frameBytesMax: MiB, streamQueuedBytesHigh: MiB });
  cleanups.push(() => connection.destroy());
  return connection;
}

interface Outcome {
  events: string[];
  response?: http2.IncomingHttpHeaders;
  trailers?: http2.IncomingHttpHeaders;
  body: Buffer;
  error?: Error;
}

/** Everything a stream emits, until 'close'; data copied (chunks are only valid during the event). */
function collect(stream: ClientStream): Promise<Outcome> {
  const outcome: Outcome = { events: [], body: Buffer.alloc(0) };
  const chunks: Buffer[] = [];
  const seen = (event: string) => {
    if (outcome.events.at(-1) !== event) outcome.events.push(event);
  };
  stream.on('response', (headers) => { seen('response'); outcome.response = headers; });
  stream.on('data', (chunk: Buffer) => { seen('data'); chunks.push(Buffer.from(chunk)); });
  stream.on('trailers', (headers) => { seen('trailers'); outcome.trailers = headers; });
  stream.on('end', () => seen('end'));
  stream.on('error', (error) => { seen('error'); outcome.error = error; });
  return new Promise((resolve) => stream.on('close', () => {
    seen('close');
    outcome.body = Buffer.concat(chunks);
    resolve(outcome);
  }));
}

/** Writes `data` in `chunkBytes` pieces, waiting for 'drain' when write() asks, then ends. */
async function upload(stream: ClientStream, data: Buffer, chunkBytes: number): Promise<number> {
  let drains = 0;
  for (let offset = 0; offset < data.length; offset += chunkBytes) {
    if (!stream.write(data.subarray(offset, offset + chunkBytes))) {
      await once(stream, 'drain');
      drains++;
    }
  }
  stream.end();
  return drains;
}

/** A server handler that answers with the byte count and SHA-256 of the request body; `slow` pauses reading now and then. */
function hashingHandler(slow: boolean) {
  return (stream: http2.ServerHttp2Stream) => {
    const hash = createHash('sha256');
    let received = 0;
    let sincePause = 0;
    stream.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      received += chunk.length;
      sincePause += chunk.length;
      if (slow && sincePause >= 256 * 1024) {
        sincePause = 0;
        stream.pause();
        setTimeout(() => stream.resume(), 5);
      }
    });
    stream.on('end', () => {
      stream.respond({ ':status': 200 });
      stream.end(`${received} ${hash.digest('hex')}`);
    });
  };
}

describe('ClientConnection against node:http2', () => {
  test('round trip: response headers, body, trailers, end, close', limit, async () => {
    const { authority } = await h2Server({}, (stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'x-custom': 'yes' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-echoed': String(Buffer.concat(chunks).length) }));
        stream.end(Buffer.concat([Buffer.from('echo:'), ...chunks]));
      });
    });
    const connection = connect(authority);
    const stream = connection.request(POST);
    const outcome = collect(stream);
    stream.write(Buffer.from('hello '));
    stream.write(Buffer.from('world'));
    stream.end();
    const { events, response, body, trailers, error } = await outcome;
    assert.equal(error, undefined);
    assert.deepEqual(events, ['response', 'data', 'trailers', 'end', 'close']);
    assert.equal(response?.[':status'], '200');
    assert.equal(response?.['x-custom'], 'yes');
    assert.equal(body.toString(), 'echo:hello world');
    assert.equal(trailers?.['grpc-status'], '0');
    assert.equal(trailers?.['x-echoed'], '11');
    assert.equal(stream.closed, true);
    const closed = once(connection, 'close');
    connection.close();
    await closed;
    assert.equal(connection.destroyed, true);
  });

  test('receive flow control: a paused stream holds the server to about one window', limit, async () => {
    const total = 40 * MiB;
    const data = pattern(total);
    let written = 0;
    const { authority } = await h2Server({ settings: { maxFrameSize: 256 * 1024 } }, (stream) => {
      stream.respond({ ':status': 200 });
      const chunkBytes = 256 * 1024;
      const writeMore = () => {
        while (written < total) {
          const ok = stream.write(data.subarray(written, written + chunkBytes));
          written += chunkBytes;
          if (!ok) return void stream.once('drain', writeMore);
        }
        stream.end();
      };
      writeMore();
    });
    const connection = connect(authority, MiB);
    const stream = connection.request({ ...POST, ':method': 'GET' });
    stream.end();
    let received = 0;
    let mismatch = -1;
    stream.on('data', (chunk: Buffer) => {
      if (mismatch < 0 && !chunk.equals(data.subarray(received, received + chunk.length))) mismatch = received;
      received += chunk.length;
      if (received === chunk.length) stream.pause(); // after the first data only
    });
    const outcome = collect(stream);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(stream.isPaused());
    assert.ok(received < MiB, `${received} bytes handed on although paused`);
    assert.ok(written < 4 * MiB, `the server got ${written} bytes ahead of a paused reader`);
    stream.resume();
    // The stream window is used up at the very end, so node:http2 often finishes with
    // RST_STREAM(NO_ERROR) instead of an empty END_STREAM DATA frame: 'end' either way.
    const { error, events } = await outcome;
    assert.equal(error, undefined);
    assert.deepEqual(events, ['response', 'data', 'end', 'close']);
    assert.equal(received, total);
    assert.equal(mismatch, -1, `bytes differ from offset ${mismatch}`);
  });

  test('send flow control: several MB to a small-window server that reads slowly', limit, async () => {
    const { authority } = await h2Server({ settings: { initialWindowSize: 65_535, maxFrameSize: 16_384 } }, hashingHandler(true));
    const connection = connect(authority);
    const data = pattern(6 * MiB + 12_345, 7);
    const stream = connection.request(POST);
    const outcome = collect(stream);
    const drains = await upload(stream, data, 100_000);
    const { body, error } = await outcome;
    assert.equal(error, undefined);
    assert.equal(body.toString(), `${data.length} ${sha256(data)}`);
    assert.ok(drains > 0, 'write() never asked to wait for drain');
  });

  test('a 20 MB upload to a server with large windows arrives intact', limit, async () => {
    const { authority, server } = await h2Server({ settings: { initialWindowSize: 8 * MiB, maxFrameSize: MiB } }, hashingHandler(false));
    server.on('session', (session) => session.setLocalWindowSize(16 * MiB));
    const connection = connect(authority);
    const data = pattern(20 * MiB, 11);
    const stream = connection.request(POST);
    const outcome = collect(stream);
    await upload(stream, data, 3 * MiB + 5);
    const { body, error } = await outcome;
    assert.equal(error, undefined);
    assert.equal(body.toString(), `${data.length} ${sha256(data)}`);
  });

  test('streams beyond the server\'s maxConcurrentStreams wait their turn', limit, async () => {
    let open = 0;
    let openMax = 0;
    const { authority } = await h2Server({ settings: { maxConcurrentStreams: 1 } }, (stream, headers) => {
      openMax = Math.max(openMax, ++open);
      stream.resume();
      stream.on('end', () => setTimeout(() => {
        open--;
        stream.respond({ ':status': 200 });
        stream.end(`reply to ${headers[':path']}`);
      }, 20));
    });
    const connection = connect(authority);
    const outcomes = ['/a', '/b', '/c'].map((path) => {
      const stream = connection.request({ ...POST, ':path': path });
      stream.end();
      return collect(stream);
    });
    const results = await Promise.all(outcomes);
    assert.deepEqual(results.map((result) => result.error?.message), [undefined, undefined, undefined]);
    assert.deepEqual(results.map((result) => result.body.toString()), ['reply to /a', 'reply to /b', 'reply to /c']);
    assert.equal(openMax, 1);
  });

  test('a stream the server resets fails; the connection goes on', limit, async () => {
    const { authority } = await h2Server({}, (stream, headers) => {
      if (headers[':path'] === '/reset') return void stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      stream.respond({ ':status': 200 });
      stream.end('fine');
    });
    const connection = connect(authority);
    const reset = connection.request({ ...POST, ':path': '/reset' });
    reset.end();
    const failed = await collect(reset);
    assert.deepEqual(failed.events, ['error', 'close']);
    assert.match(failed.error!.message, /reset the stream \(HTTP\/2 error code 2\)/);
    const next = connection.request(POST);
    next.end();
    const fine = await collect(next);
    assert.equal(fine.error, undefined);
    assert.equal(fine.body.toString(), 'fine');
  });

  test('closing a client stream sends RST_STREAM(CANCEL) to the server', limit, async () => {
    let serverStream: http2.ServerHttp2Stream | undefined;
    const { authority } = await h2Server({}, (stream) => {
      serverStream = stream;
      stream.respond({ ':status': 200 });
      stream.write('first');
    });
    const connection = connect(authority);
    const stream = connection.request(POST);
    const outcome = collect(stream);
    await once(stream, 'data');
    stream.close();
    const { events, error } = await outcome;
    assert.equal(error, undefined);
    assert.deepEqual(events, ['response', 'data', 'close']);
    if (!serverStream!.closed) await once(serverStream!, 'close');
    assert.equal(serverStream!.rstCode, http2.constants.NGHTTP2_CANCEL);
    assert.equal(serverStream!.aborted, true);
  });

  test('GOAWAY: an open stream completes, no new streams, a new connection works', limit, async () => {
    const { authority } = await h2Server({}, (stream, headers, session) => {
      stream.respond({ ':status': 200 });
      if (headers[':path'] !== '/goaway') return void stream.end('second connection');
      session.close(); // GOAWAY(NO_ERROR, last stream 1): stream 1 may finish
      setTimeout(() => stream.end('finished after GOAWAY'), 50);
    });
    const connection = connect(authority);
    const stream = connection.request({ ...POST, ':path': '/goaway' });
    stream.end();
    const outcome = collect(stream);
    await until(() => connection.closed); // the GOAWAY arrived
    assert.equal(stream.closed, false);
    const refused = await collect(connection.request(POST));
    assert.match(refused.error!.message, /connection is closed/);
    const { body, error } = await outcome;
    assert.equal(error, undefined);
    assert.equal(body.toString(), 'finished after GOAWAY');
    if (!connection.destroyed) await once(connection, 'close');
    const again = connect(authority).request(POST);
    again.end();
    assert.equal((await collect(again)).body.toString(), 'second connection');
  });

  test('the server destroying its session fails open streams', limit, async () => {
    const { authority } = await h2Server({}, (stream, headers, session) => {
      stream.respond({ ':status': 200 });
      if (headers[':path'] === '/destroy') stream.write('partial', () => setTimeout(() => session.destroy(), 10));
      else stream.end('second connection');
    });
    const connection = connect(authority);
    const stream = connection.request({ ...POST, ':path': '/destroy' });
    stream.end();
    const closed = once(connection, 'close');
    const { events, error, body } = await collect(stream);
    assert.deepEqual(events, ['response', 'data', 'error', 'close']);
    assert.ok(error);
    assert.equal(body.toString(), 'partial');
    await closed;
    assert.equal(connection.closed, true);
    assert.equal(connection.destroyed, true);
    const again = connect(authority).request(POST);
    again.end();
    assert.equal((await collect(again)).body.toString(), 'second connection');
  });

  test('a refused connection fails the stream with ECONNREFUSED', limit, async () => {
    const server = net.createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const connection = connect(`127.0.0.1:${port}`);
    const { events, error } = await collect(connection.request(POST));
    assert.deepEqual(events, ['error', 'close']);
    assert.match(error!.message, /ECONNREFUSED/);
    assert.equal(connection.destroyed, true);
  });
});

// ---- a raw TCP server speaking HTTP/2 frame by frame ----

interface RawFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** One client connection to a scripted server: the frames the client sent, and a socket to answer on. */
class RawPeer {
  readonly frames: RawFrame[] = [];
  private prefaceLeft = CONNECTION_PREFACE.length;
  private waiter: (() => void) | undefined;
  private readonly reader = new FrameReader({
    dataStart: () => undefined,
    dataPiece: () => undefined,
    dataEnd: (streamId, flags) => this.add({ type: FrameType.DATA, flags, streamId, payload: Buffer.alloc(0) }),
    frame: (type, flags, streamId, payload) => this.add({ type, flags, streamId, payload }),
  }, 1 << 24);

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      const skip = Math.min(this.prefaceLeft, chunk.length);
      this.prefaceLeft -= skip;
      this.reader.push(chunk.subarray(skip));
    });
    socket.on('error', () => undefined);
    socket.write(settingsFrame([]));
  }

  /** The first frame the client sent (or sends) that matches. */
  async next(type: number, flags = 0): Promise<RawFrame> {
    for (;;) {
      const found = this.frames.find((f) => f.type === type && (f.flags & flags) === flags);
      if (found) return found;
      await new Promise<void>((resolve) => { this.waiter = resolve; });
    }
  }

  private add(raw: RawFrame): void {
    this.frames.push(raw);
    this.waiter?.();
  }
}

async function rawServer(): Promise<{ authority: string; peer: Promise<RawPeer> }> {
  const server = net.createServer();
  const peer = new Promise<RawPeer>((resolve) => server.once('connection', (socket) => resolve(new RawPeer(socket))));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    void peer.then((p) => p.socket.destroy());
    server.close();
  });
  return { authority: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, peer };
}

interface RawStream {
  peer: RawPeer;
  connection: ClientConnection;
  stream: ClientStream;
  outcome: Promise<Outcome>;
}

/** Opens a stream (its request ended unless `end` is false) on a scripted server; resolves once the server has its HEADERS. */
async function rawStream(end = true): Promise<RawStream> {
  const { authority, peer: peerPromise } = await rawServer();
  const connection = connect(authority);
  const stream = connection.request(POST);
  const outcome = collect(stream);
  if (end) stream.end();
  const peer = await peerPromise;
  await peer.next(FrameType.HEADERS);
  return { peer, connection, stream, outcome };
}

describe('ClientConnection against a scripted server', () => {
  test('a PING is answered with a PING ACK carrying the same 8 bytes', limit, async () => {
    const { authority, peer: peerPromise } = await rawServer();
    const connection = connect(authority);
    const peer = await peerPromise;
    const opaque = Buffer.from('8 bytes!');
    peer.socket.write(frame(FrameType.PING, 0, 0, opaque));
    const ack = await peer.next(FrameType.PING, FrameFlag.ACK);
    assert.deepEqual(ack.payload, opaque);
    assert.equal(ack.streamId, 0);
    assert.equal(connection.destroyed, false);
  });

  test('response headers in HEADERS + CONTINUATION, padded DATA, trailers', limit, async () => {
    const { peer, outcome } = await rawStream();
    const block = Buffer.from(encodeHeaders([[':status', '200'], ['x-long', 'v'.repeat(300)]]));
    peer.socket.write(Buffer.concat([
      frame(FrameType.HEADERS, 0, 1, block.subarray(0, 100)),
      frame(FrameType.CONTINUATION, FrameFlag.END_HEADERS, 1, block.subarray(100)),
      frame(FrameType.DATA, FrameFlag.PADDED, 1, Buffer.from([3, 0x61, 0x62, 0, 0, 0])),
      frame(FrameType.DATA, 0, 1, Buffer.from('cd')),
      frame(FrameType.HEADERS, FrameFlag.END_HEADERS | FrameFlag.END_STREAM, 1,
        Buffer.from(encodeHeaders([['grpc-status', '0']]))),
    ]));
    const { events, response, body, trailers } = await outcome;
    assert.deepEqual(events, ['response', 'data', 'trailers', 'end', 'close']);
    assert.equal(response?.['x-long'], 'v'.repeat(300));
    assert.equal(body.toString(), 'abcd');
    assert.equal(trailers?.['grpc-status'], '0');
  });

  test('RST_STREAM(NO_ERROR) after the response: held data is still handed on, then end', limit, async () => {
    const { peer, stream, outcome } = await rawStream(false);
    stream.write(Buffer.from('request body the server will not read'));
    stream.pause();
    peer.socket.write(Buffer.concat([
      frame(FrameType.HEADERS, FrameFlag.END_HEADERS, 1, Buffer.from(encodeHeaders([[':status', '200']]))),
      frame(FrameType.DATA, FrameFlag.END_STREAM, 1, Buffer.from('the whole response')),
      frame(FrameType.RST_STREAM, 0, 1, Buffer.from([0, 0, 0, Http2ErrorCode.NO_ERROR])),
      frame(FrameType.PING, 0, 0, Buffer.alloc(8)),
    ]));
    await peer.next(FrameType.PING, FrameFlag.ACK); // the client has read everything before the PING
    assert.equal(stream.closed, false);
    assert.equal(stream.write(Buffer.from('more')), false);
    stream.resume();
    const { events, body, error } = await outcome;
    assert.equal(error, undefined);
    assert.deepEqual(events, ['response', 'data', 'end', 'close']);
    assert.equal(body.toString(), 'the whole response');
  });

  test('payload read straight into a reader\'s memory, message ends inside large frames included', limit, async () => {
    // A reader that offers memory up to the end of each 100,000-byte message (as the gRPC
    // framing does): nearly every byte must land in place, not just those of the frames'
    // first message. Reading past a message's end into the shared read buffer used to copy up
    // to a whole read buffer of the next message (and past a short frame end, of the next frame).
    const messageBytes = 100_000;
    const total = 10 * messageBytes;
    const sent = pattern(total);
    const { peer, stream, outcome } = await rawStream();
    const received = Buffer.alloc(total);
    let filled = 0;
    let inPlace = 0;
    stream.setDirectSink({
      target: (max) => received.subarray(filled, filled + Math.min(max, messageBytes - (filled % messageBytes))),
      landed: (bytes) => { filled += bytes; inPlace += bytes; },
    });
    stream.on('data', (chunk: Buffer) => { chunk.copy(received, filled); filled += chunk.length; });
    const frames = [frame(FrameType.HEADERS, FrameFlag.END_HEADERS, 1, Buffer.from(encodeHeaders([[':status', '200']])))];
    const frameBytes = 256 * 1024 + 1000; // frames end at other places than messages, some close after one
    for (let offset = 0; offset < total; offset += frameBytes) {
      const end = Math.min(total, offset + frameBytes);
      frames.push(frame(FrameType.DATA, end === total ? FrameFlag.END_STREAM : 0, 1, sent.subarray(offset, end)));
    }
    peer.socket.write(Buffer.concat(frames)); // all of it at once: every read finds plenty waiting
    const { error } = await outcome;
    assert.equal(error, undefined);
    assert.equal(filled, total);
    assert.ok(received.equals(sent), 'the payload arrives intact');
    // What may come through the read buffer: the first bytes (before the sink saw the response)
    // and, at each of the 10 message ends and 4 frame ends, less than 16 KiB.
    assert.ok(total - inPlace < 14 * 16 * 1024 + 64 * 1024, `${total - inPlace} of ${total} bytes were copied, not read in place`);
  });

  const malformed: Array<[string, Buffer, number]> = [
    ['a WINDOW_UPDATE with a 3-byte payload', frame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(3, 1)), Http2ErrorCode.FRAME_SIZE_ERROR],
    ['a PUSH_PROMISE', frame(FrameType.PUSH_PROMISE, FrameFlag.END_HEADERS, 1, Buffer.from([0, 0, 0, 2, 0x88])), Http2ErrorCode.PROTOCOL_ERROR],
    ['a connection WINDOW_UPDATE of 0', windowUpdateFrame(0, 0), Http2ErrorCode.PROTOCOL_ERROR],
    ['a bad HPACK block', frame(FrameType.HEADERS, FrameFlag.END_HEADERS, 1, Buffer.from([0x80])), Http2ErrorCode.COMPRESSION_ERROR],
  ];
  for (const [what, bytes, code] of malformed) {
    test(`${what} gets GOAWAY(${code}) and fails the open stream`, limit, async () => {
      const { peer, connection, outcome } = await rawStream();
      peer.socket.write(bytes);
      const goAway = await peer.next(FrameType.GOAWAY);
      assert.equal(goAway.payload.readUInt32BE(4), code);
      const { events, error } = await outcome;
      assert.deepEqual(events, ['error', 'close']);
      assert.match(error!.message, /HTTP\/2 protocol error/);
      assert.equal(connection.destroyed, true);
    });
  }
});
