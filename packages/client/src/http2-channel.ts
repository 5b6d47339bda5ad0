/**
 * The data plane (DoGet, DoPut, DoExchange) as gRPC over HTTP/2 without grpc-js: on the
 * client's own HTTP/2 connection (@longbow/flight's ClientConnection, the default) or on node:http2. Against
 * grpc-js it saves two copies of every batch on the way out (grpc-js joins a message into one
 * buffer, then frames it into another) and one on the way in (bodies land 8-byte aligned, so
 * Arrow reads them in place); the own connection also skips node:http2's per-frame events,
 * which are most of a large DoGet's cost there. Calls take the same CallOptions (signal,
 * deadline, headers) as FlightClient's.
 */
import http2 from 'node:http2';
import {
  ClientConnection, FlightError, GrpcStatus, codecs, decodeFlightData, flightDataParts, messagePrefix,
  type CallOptions, type FlightData, type PutResult, type Ticket,
} from '@longbow/flight';
import { Http2Call, type CallStream } from './http2-call.ts';

const SERVICE_PATH = '/arrow.flight.protocol.FlightService/';
/** HTTP/2 memory nghttp2 may hold for the session, in MB: a whole large batch is queued at once. */
const SESSION_MEMORY_MB = 1024;
/** Queued output of a call (bytes) above which its writer waits for 'drain'. */
const QUEUED_BYTES_HIGH = 1024 * 1024;
/** Largest DATA frame the server may send us (HTTP/2 allows up to 16 MiB - 1). */
const FRAME_BYTES_MAX = 1024 * 1024;

/** What the channel needs of an HTTP/2 client session: node:http2's, or our own connection. */
interface ClientSession {
  request(headers: http2.OutgoingHttpHeaders): CallStream;
  close(): void;
  ref(): void;
  unref(): void;
  readonly closed: boolean;
  readonly destroyed: boolean;
  on(event: 'close', listener: () => void): unknown;
}

export interface Http2ChannelOptions {
  /** `own` (default): the client's own HTTP/2 connection; `node`: node:http2. */
  connection?: 'own' | 'node';
  /** Headers on every call (the bearer token among them). */
  headers: Record<string, string>;
  /** Largest message accepted, in bytes; -1 for no limit. */
  messageBytesMax: number;
  /** HTTP/2 flow-control window of the connection and of each stream, in bytes. */
  windowBytes: number;
}

/** One message as the pieces to write: prefix and protobuf fields in one small buffer, then the body's bytes as they are. */
function flightDataPieces(data: FlightData): Uint8Array[] {
  const parts = flightDataParts(data);
  return [Buffer.concat([messagePrefix(parts.byteLength), parts.head]), ...parts.body];
}

function messagePieces(bytes: Uint8Array): Uint8Array[] {
  return [Buffer.concat([messagePrefix(bytes.byteLength), bytes])];
}

async function* mapAsync<T, U>(items: AsyncIterable<T> | Iterable<T>, map: (item: T) => U): AsyncGenerator<U> {
  for await (const item of items) yield map(item);
}

export class Http2FlightChannel {
  private session: ClientSession | undefined;
  private activeCalls = 0;
  private closed = false;

  constructor(private readonly authority: string, private readonly options: Http2ChannelOptions) {}

  /** Record batches of a DoGet, as FlightData. */
  doGetMessages(ticket: Ticket | Uint8Array | string, options: CallOptions = {}): AsyncIterable<FlightData> {
    const bytes = typeof ticket === 'string' ? Buffer.from(ticket, 'utf8') : ticket instanceof Uint8Array ? ticket : ticket.ticket;
    const responses = this.call('DoGet', [messagePieces(codecs.Ticket.encode({ ticket: bytes }))], options);
    return mapAsync(responses, decodeFlightData);
  }

  doPutMessages(messages: AsyncIterable<FlightData> | Iterable<FlightData>, options: CallOptions = {}): AsyncIterable<PutResult> {
    return mapAsync(this.call('DoPut', mapAsync(messages, flightDataPieces), options), (bytes) => codecs.PutResult.decode(bytes));
  }

  doExchange(messages: AsyncIterable<FlightData> | Iterable<FlightData>, options: CallOptions = {}): AsyncIterable<FlightData> {
    return mapAsync(this.call('DoExchange', mapAsync(messages, flightDataPieces), options), decodeFlightData);
  }

  close(): void {
    this.closed = true;
    this.session?.close();
    this.session = undefined;
  }

  private connect(): ClientSession {
    if (this.closed) throw new FlightError(GrpcStatus.CANCELLED, 'the client is closed');
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const session = this.options.connection === 'node' ? this.connectNode()
      : new ClientConnection(this.authority, {
        windowBytes: this.options.windowBytes, frameBytesMax: FRAME_BYTES_MAX, streamQueuedBytesHigh: QUEUED_BYTES_HIGH,
      });
    session.on('close', () => {
      if (this.session === session) this.session = undefined;
    });
    this.session = session;
    return session;
  }

  private connectNode(): http2.ClientHttp2Session {
    const windowBytes = this.options.windowBytes;
    const session = http2.connect(`http://${this.authority}`, {
      maxSessionMemory: SESSION_MEMORY_MB,
      settings: { initialWindowSize: windowBytes, maxFrameSize: FRAME_BYTES_MAX, enablePush: false },
    });
    session.on('connect', () => session.setLocalWindowSize(windowBytes));
    // Failures reach the calls through their streams; the session itself must not throw.
    session.on('error', () => undefined);
    return session;
  }

  /** Keeps the process alive only while calls run (an idle client does not hold Node open). */
  private track(delta: 1 | -1, session: ClientSession): void {
    this.activeCalls += delta;
    if (session.destroyed) return;
    if (this.activeCalls > 0) session.ref();
    else session.unref();
  }

  private async *call(method: string, requests: AsyncIterable<Uint8Array[]> | Iterable<Uint8Array[]>,
    options: CallOptions): AsyncGenerator<Uint8Array> {
    const session = this.connect();
    const headers: http2.OutgoingHttpHeaders = {
      ...this.options.headers, ...options.headers,
      ':method': 'POST', ':path': SERVICE_PATH + method, 'content-type': 'application/grpc', te: 'trailers',
    };
    if (options.timeoutMs !== undefined) headers['grpc-timeout'] = `${Math.max(1, Math.ceil(options.timeoutMs))}m`;
    this.track(1, session);
    try {
      const call = new Http2Call(session.request(headers), this.authority, this.options.messageBytesMax, options,
        session instanceof ClientConnection);
      call.send(requests);
      yield* call.responses();
    } finally {
      this.track(-1, session);
    }
  }
}
