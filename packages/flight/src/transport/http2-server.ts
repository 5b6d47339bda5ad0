/**
 * The FlightService on HTTP/2 without grpc-js: gRPC framing, status trailers, deadlines and
 * cancellation are done here, over either of two HTTP/2 engines behind one stream interface:
 * `own` (default, ../http2/: one pass over socket reads, DATA handed on as subarrays) or
 * `node` (node:http2). Compared with grpc-js it copies each received message once (from
 * HTTP/2 frames into a buffer laid out so the FlightData body is 8-byte aligned) and never
 * copies a sent FlightData body (header and body pieces are written as they are).
 */
import type { EventEmitter } from 'node:events';
import * as http2 from 'node:http2';
import { ERROR_CODE_TRAILER, FlightError, GrpcStatus } from '../errors.ts';
import { decodeFlightData, flightDataParts } from '../codec/flight-data.ts';
import {
  flightDataCodec, methodForPath, type CallContext, type CallDispatcher, type CallStatus, type FlightDataWatcher, type MethodShape,
} from '../dispatch.ts';
import type { FlightData } from '../protocol.ts';
import { splitAddress } from '../http2/frames.ts';
import { Http2Listener } from '../http2/server-connection.ts';
import type { PeerSocket } from '../http2/server-stream.ts';
import type { DirectSink } from '../http2/stream.ts';
import { GrpcMessageReader, encodeGrpcMessage, messagePrefix, parseGrpcTimeout, type MessageWatcher } from './grpc-framing.ts';
import type { TransportOptions, TransportServer } from './transport.ts';
import { drained } from './drain.ts';

/** The part of a server stream a call uses: node:http2's ServerHttp2Stream, or our own (../http2/stream.ts). */
interface ServerCallStream extends EventEmitter {
  respond(headers: http2.OutgoingHttpHeaders, options?: { endStream?: boolean; waitForTrailers?: boolean }): void;
  sendTrailers(headers: http2.OutgoingHttpHeaders): void;
  write(chunk: Uint8Array): boolean;
  end(): void;
  pause(): unknown;
  resume(): unknown;
  isPaused(): boolean;
  readonly destroyed: boolean;
  readonly closed: boolean;
  readonly readableEnded: boolean;
  readonly session?: { readonly socket: PeerSocket } | undefined;
  /** Offered by our own streams: request payload read straight into the message being assembled. */
  setDirectSink?(sink: DirectSink | undefined): void;
}

/** What shutdown needs of a listening server and of a connection. */
interface Closable {
  close(): void;
  destroy(): void;
}

/** Streams our own HTTP/2 server accepts at once per connection (node:http2 allows 2^32 - 1). */
const STREAMS_PER_CONNECTION_MAX = 1000;
/** Queued output of a stream (bytes) above which write() asks the call to wait for 'drain'. */
const STREAM_QUEUED_BYTES_HIGH = 8 * 1024 * 1024;

const { HTTP2_HEADER_PATH, HTTP2_HEADER_STATUS, HTTP2_HEADER_CONTENT_TYPE } = http2.constants;

/** Decoded request messages held before the stream is paused (backpressure on the client). */
const QUEUED_MESSAGES_MAX = 4;

function headersOf(headers: http2.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) {
    if (key.startsWith(':') || key.endsWith('-bin') || value === undefined) continue;
    out[key.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function statusHeaders(status: CallStatus): http2.OutgoingHttpHeaders {
  const headers: http2.OutgoingHttpHeaders = { 'grpc-status': String(status.code) };
  if (status.code !== GrpcStatus.OK) headers['grpc-message'] = encodeGrpcMessage(status.details);
  if (status.errorCode !== undefined) headers[ERROR_CODE_TRAILER] = status.errorCode;
  return headers;
}

function malformedRequest(reason: string): FlightError {
  return new FlightError(GrpcStatus.INVALID_ARGUMENT, `malformed request: ${reason}`, 'MALFORMED_REQUEST');
}

/** One gRPC call on one HTTP/2 stream. */
class Http2Call {
  private headersSent = false;
  private finished = false;
  readonly controller = new AbortController();

  constructor(readonly stream: ServerCallStream) {
    stream.on('error', () => this.controller.abort());
    stream.on('close', () => { if (!this.finished) this.controller.abort(); });
  }

  private sendHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.stream.respond({ [HTTP2_HEADER_STATUS]: 200, [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc' }, { waitForTrailers: true });
  }

  /** Writes one message; resolves when the stream can take more. */
  async write(shape: MethodShape, message: unknown): Promise<void> {
    if (this.controller.signal.aborted) return;
    this.sendHeaders();
    let flushed: boolean;
    if (shape.response === flightDataCodec) {
      const parts = flightDataParts(message as FlightData);
      flushed = this.stream.write(Buffer.concat([messagePrefix(parts.byteLength), parts.head]));
      for (const piece of parts.body) flushed = this.stream.write(piece);
    } else {
      const bytes = shape.response.encode(message);
      flushed = this.stream.write(Buffer.concat([messagePrefix(bytes.byteLength), bytes]));
    }
    if (!flushed && !this.stream.destroyed) await drained(this.stream, this.controller.signal);
  }

  /** Ends the call with `status` (trailers, or a trailers-only response when nothing was sent). */
  end(status: CallStatus): void {
    if (this.finished) return;
    this.finished = true;
    if (this.stream.destroyed || this.stream.closed) return;
    // Whatever the client still sends is read and dropped, so its writes do not stall.
    if (!this.stream.readableEnded) this.stream.resume();
    if (!this.headersSent) {
      this.headersSent = true;
      this.stream.respond({
        [HTTP2_HEADER_STATUS]: 200, [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc', ...statusHeaders(status),
      }, { endStream: true });
      return;
    }
    this.stream.once('wantTrailers', () => {
      try { this.stream.sendTrailers(statusHeaders(status)); } catch { /* stream already gone */ }
    });
    this.stream.end();
  }
}

export class Http2Transport implements TransportServer {
  private readonly listeners: Array<{ close(): Promise<void> }> = [];
  private readonly sessions = new Set<Closable>();
  private closing = false;

  constructor(private readonly dispatcher: CallDispatcher, private readonly options: TransportOptions,
    private readonly engine: 'own' | 'node' = 'own') {}

  async listen(address: string): Promise<number> {
    const { host, port } = splitAddress(address, 'listen address');
    return this.engine === 'own' ? this.listenOwn(host, port) : this.listenNode(host, port);
  }

  private async listenOwn(host: string, port: number): Promise<number> {
    const listener = new Http2Listener({
      windowBytes: this.options.flowControlWindowBytes, frameBytesMax: this.options.frameBytesMax,
      streamQueuedBytesHigh: STREAM_QUEUED_BYTES_HIGH, streamsMax: STREAMS_PER_CONNECTION_MAX,
    }, (stream, headers) => this.handle(stream, headers), (connection) => this.track(connection));
    const bound = await listener.listen(port, host);
    this.listeners.push(listener);
    return bound;
  }

  private async listenNode(host: string, port: number): Promise<number> {
    const server = http2.createServer({
      settings: {
        initialWindowSize: this.options.flowControlWindowBytes,
        maxFrameSize: this.options.frameBytesMax,
        enablePush: false,
      },
      // Megabytes; queued outgoing data counts, and DoGet queues whole messages.
      maxSessionMemory: 1024 * 1024,
    });
    server.on('session', (session) => this.adopt(session));
    server.on('stream', (stream, headers) => this.handle(stream, headers));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => { server.off('error', reject); resolve(); });
    });
    server.on('error', () => { /* accept failures (EMFILE): the server keeps listening */ });
    this.listeners.push({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
    const bound = server.address();
    return typeof bound === 'object' && bound !== null ? bound.port : port;
  }

  async shutdown(graceMs: number): Promise<void> {
    this.closing = true;
    const closed = this.listeners.map((listener) => listener.close());
    for (const session of this.sessions) session.close();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); });
    await Promise.race([Promise.all(closed), deadline]);
    clearTimeout(timer);
    for (const session of this.sessions) session.destroy();
    await Promise.all(closed);
  }

  private track(session: Closable & { on(event: 'close', listener: () => void): unknown }): void {
    this.sessions.add(session);
    session.on('close', () => this.sessions.delete(session));
  }

  private adopt(session: http2.ServerHttp2Session): void {
    this.track(session);
    session.on('error', () => { /* reported per stream; the session closes */ });
    session.once('connect', () => {
      try { session.setLocalWindowSize(this.options.flowControlWindowBytes); } catch { /* closing */ }
    });
    try { session.setLocalWindowSize(this.options.flowControlWindowBytes); } catch { /* not yet connected */ }
  }

  private handle(stream: ServerCallStream, headers: http2.IncomingHttpHeaders): void {
    const call = new Http2Call(stream);
    const contentType = headers[HTTP2_HEADER_CONTENT_TYPE];
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      stream.resume(); // what the client sends is read and dropped
      stream.respond({ [HTTP2_HEADER_STATUS]: 415 }, { endStream: true });
      return;
    }
    const shape = methodForPath(String(headers[HTTP2_HEADER_PATH]));
    if (!shape) {
      call.end({ code: GrpcStatus.UNIMPLEMENTED, details: `unknown method ${String(headers[HTTP2_HEADER_PATH])}` });
      return;
    }
    if (this.closing) {
      call.end({ code: GrpcStatus.UNAVAILABLE, details: 'server is shutting down', errorCode: 'SHUTTING_DOWN' });
      return;
    }
    const socket = stream.session?.socket;
    const reader = new GrpcMessageReader({
      messageBytesMax: this.options.messageBytesMax,
      encoding: headers['grpc-encoding'] as string | undefined,
      alignFlightDataBody: shape.request === flightDataCodec,
      transientChunks: this.engine === 'own', // our connection reads into a reused buffer
    });
    const context: CallContext = {
      method: shape.name,
      headers: headersOf(headers),
      peer: socket ? `${socket.remoteFamily === 'IPv6' ? 'ipv6' : 'ipv4'}:${socket.remoteAddress}:${socket.remotePort}` : 'unknown',
      signal: call.controller.signal,
      ...(shape.request === flightDataCodec && shape.requestStream ? { watchRequests: (watcher) => { reader.watcher = watcher && flightDataWatcher(watcher); } } : {}),
    };
    void this.run(shape, call, context, headers, reader);
  }

  private async run(shape: MethodShape, call: Http2Call, context: CallContext, headers: http2.IncomingHttpHeaders, reader: GrpcMessageReader): Promise<void> {
    const startNs = process.hrtime.bigint();
    const timeoutMs = parseGrpcTimeout(headers['grpc-timeout'] as string | undefined);
    let timedOut = false;
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => { timedOut = true; call.controller.abort(); }, timeoutMs);
    try {
      const requests = this.requests(shape, call, reader);
      const input = shape.requestStream ? requests : await this.single(requests);
      for await (const response of this.dispatcher.responses(shape, input, context)) {
        if (call.controller.signal.aborted) break;
        await call.write(shape, response);
      }
      if (timedOut) throw new FlightError(GrpcStatus.DEADLINE_EXCEEDED, 'deadline exceeded');
      const code = call.controller.signal.aborted ? GrpcStatus.CANCELLED : GrpcStatus.OK;
      this.dispatcher.finish(context, startNs, code);
      call.end({ code, details: '' });
    } catch (error) {
      const status = timedOut ? { code: GrpcStatus.DEADLINE_EXCEEDED, details: 'deadline exceeded' }
        : call.controller.signal.aborted ? { code: GrpcStatus.CANCELLED, details: 'cancelled' }
          : this.dispatcher.toStatus(error, context);
      this.dispatcher.finish(context, startNs, status.code);
      call.end(status);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Decoded request messages as they arrive. The stream stays in flowing mode (a paused
   * Http2Stream holds back HTTP/2 window updates and throttles the sender to its 16 KiB
   * buffer); it is paused only while QUEUED_MESSAGES_MAX decoded messages wait for the handler.
   */
  private async *requests(shape: MethodShape, call: Http2Call, reader: GrpcMessageReader): AsyncGenerator<unknown> {
    const { stream } = call;
    const queue: unknown[] = [];
    let failure: unknown;
    let ended = false;
    let wake: (() => void) | undefined;
    const notify = () => { const resume = wake; wake = undefined; resume?.(); };
    const take = (messages: () => Uint8Array[]) => {
      try {
        for (const message of messages()) queue.push(this.decode(shape, message));
      } catch (error) {
        failure ??= error;
      }
      if (queue.length >= QUEUED_MESSAGES_MAX || failure !== undefined) stream.pause();
      notify();
    };
    const onData = (chunk: Buffer) => take(() => reader.push(chunk));
    const onEnd = () => { ended = true; notify(); };
    stream.setDirectSink?.({ target: (max) => reader.directTarget(max), landed: (bytes) => take(() => reader.landed(bytes)) });
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
    try {
      for (;;) {
        if (queue.length > 0) {
          const message = queue.shift();
          if (queue.length < QUEUED_MESSAGES_MAX && failure === undefined && stream.isPaused()) stream.resume();
          yield message;
          continue;
        }
        if (failure !== undefined) throw failure;
        if (call.controller.signal.aborted) return;
        if (ended) {
          if (!reader.idle) throw malformedRequest('the request stream ended inside a message');
          return;
        }
        await new Promise<void>((resolve) => { wake = resolve; });
      }
    } finally {
      stream.setDirectSink?.(undefined);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
    }
  }

  private decode(shape: MethodShape, message: Uint8Array): unknown {
    try {
      return shape.request.decode(message);
    } catch (error) {
      if (error instanceof FlightError) throw error;
      throw malformedRequest(`cannot decode ${shape.name} request (${(error as Error).message})`);
    }
  }

  /** The one request message of a unary-request method. */
  private async single(requests: AsyncIterable<unknown>): Promise<unknown> {
    let request: unknown;
    let count = 0;
    for await (const message of requests) {
      request = message;
      count += 1;
    }
    if (count !== 1) throw malformedRequest(`expected one request message, got ${count}`);
    return request;
  }
}

/** A FlightData watcher as the message reader calls it: heads and messages decoded first. */
function flightDataWatcher(watcher: FlightDataWatcher): MessageWatcher {
  return {
    bodyStarted: (head, body) => watcher.bodyStarted(decodeFlightData(head), body),
    messageCompleted: (message) => watcher.messageArrived(decodeFlightData(message)),
    sharedBody: (bodyBytes) => watcher.sharedBody?.(bodyBytes) === true,
  };
}
