/**
 * The FlightService on node:http2 directly: gRPC framing, status trailers, deadlines and
 * cancellation are done here. Compared with grpc-js it copies each received message once
 * (from HTTP/2 frames into a buffer laid out so the FlightData body is 8-byte aligned) and
 * never copies a sent FlightData body (header and body pieces are written as they are).
 */
import * as http2 from 'node:http2';
import { ERROR_CODE_TRAILER, FlightError, GrpcStatus } from '../errors.ts';
import { flightDataParts } from '../codec/flight-data.ts';
import {
  flightDataCodec, methodForPath, type CallContext, type CallDispatcher, type CallStatus, type MethodShape,
} from '../dispatch.ts';
import type { FlightData } from '../protocol.ts';
import { GrpcMessageReader, encodeGrpcMessage, messagePrefix, parseGrpcTimeout } from './grpc-framing.ts';
import type { TransportOptions, TransportServer } from './transport.ts';
import { drained } from './drain.ts';

const { HTTP2_HEADER_PATH, HTTP2_HEADER_STATUS, HTTP2_HEADER_CONTENT_TYPE } = http2.constants;

/** Decoded request messages held before the stream is paused (backpressure on the client). */
const QUEUED_MESSAGES_MAX = 4;

function splitAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  if (!match) throw new Error(`bad listen address "${address}" (expected host:port)`);
  return { host: match[1] ?? match[2], port: Number(match[3]) };
}

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

  constructor(readonly stream: http2.ServerHttp2Stream) {
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
  private readonly servers: http2.Http2Server[] = [];
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private closing = false;

  constructor(private readonly dispatcher: CallDispatcher, private readonly options: TransportOptions) {}

  async listen(address: string): Promise<number> {
    const { host, port } = splitAddress(address);
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
    this.servers.push(server);
    const bound = server.address();
    return typeof bound === 'object' && bound !== null ? bound.port : port;
  }

  async shutdown(graceMs: number): Promise<void> {
    this.closing = true;
    const closed = this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const session of this.sessions) session.close();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); });
    await Promise.race([Promise.all(closed), deadline]);
    clearTimeout(timer);
    for (const session of this.sessions) session.destroy();
    await Promise.all(closed);
  }

  private adopt(session: http2.ServerHttp2Session): void {
    this.sessions.add(session);
    session.on('close', () => this.sessions.delete(session));
    session.on('error', () => { /* reported per stream; the session closes */ });
    session.once('connect', () => {
      try { session.setLocalWindowSize(this.options.flowControlWindowBytes); } catch { /* closing */ }
    });
    try { session.setLocalWindowSize(this.options.flowControlWindowBytes); } catch { /* not yet connected */ }
  }

  private handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const call = new Http2Call(stream);
    const contentType = headers[HTTP2_HEADER_CONTENT_TYPE];
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
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
    const context: CallContext = {
      method: shape.name,
      headers: headersOf(headers),
      peer: socket ? `${socket.remoteFamily === 'IPv6' ? 'ipv6' : 'ipv4'}:${socket.remoteAddress}:${socket.remotePort}` : 'unknown',
      signal: call.controller.signal,
    };
    void this.run(shape, call, context, headers);
  }

  private async run(shape: MethodShape, call: Http2Call, context: CallContext, headers: http2.IncomingHttpHeaders): Promise<void> {
    const startNs = process.hrtime.bigint();
    const timeoutMs = parseGrpcTimeout(headers['grpc-timeout'] as string | undefined);
    let timedOut = false;
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => { timedOut = true; call.controller.abort(); }, timeoutMs);
    const reader = new GrpcMessageReader({
      messageBytesMax: this.options.messageBytesMax,
      encoding: headers['grpc-encoding'] as string | undefined,
      alignFlightDataBody: shape.request === flightDataCodec,
    });
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
    const onData = (chunk: Buffer) => {
      try {
        for (const message of reader.push(chunk)) queue.push(this.decode(shape, message));
      } catch (error) {
        failure ??= error;
      }
      if (queue.length >= QUEUED_MESSAGES_MAX || failure !== undefined) stream.pause();
      notify();
    };
    const onEnd = () => { ended = true; notify(); };
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
