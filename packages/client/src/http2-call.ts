/**
 * One gRPC call on an HTTP/2 stream: requests written as the stream takes them (a full
 * flow-control window waits for 'drain'), responses reassembled into whole messages, and the
 * outcome from the grpc-status trailer. Failures, most telling first: the caller's own input,
 * a local cancel or deadline, the server's status, the transport.
 */
import http2 from 'node:http2';
import { FlightError, GrpcMessageReader, GrpcStatus, type CallOptions, type DirectSink } from '@longbow/flight';

const ERROR_CODE_HEADER = 'longbow-error-code';
/** Messages received and not yet taken before reading pauses (HTTP/2 flow control then holds the server back). */
const INBOX_MESSAGES_MAX = 8;
const EMPTY = new Uint8Array(0);

/**
 * The part of an HTTP/2 client stream a call uses: node:http2's ClientHttp2Stream, or a stream
 * of our own connection (@longbow/flight's ClientConnection).
 */
export interface CallStream {
  on(event: 'response' | 'trailers', listener: (headers: http2.IncomingHttpHeaders) => void): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'end' | 'close' | 'drain', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  once(event: 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
  write(chunk: Uint8Array): boolean;
  end(): void;
  close(code?: number): void;
  pause(): unknown;
  resume(): unknown;
  isPaused(): boolean;
  readonly closed: boolean;
  readonly destroyed: boolean;
  /** Offered by our own connection's streams: payload read straight into the message being assembled. */
  setDirectSink?(sink: DirectSink | undefined): void;
}

interface CallStatus {
  code: GrpcStatus;
  message: string;
  errorCode?: string;
}

/** Decodes a percent-encoded grpc-message. */
function percentDecode(value: string): string {
  if (!value.includes('%')) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const hex = value[i] === '%' ? value.slice(i + 1, i + 3) : '';
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(...Buffer.from(value[i], 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

function header(headers: http2.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function statusOf(headers: http2.IncomingHttpHeaders): CallStatus | undefined {
  const code = header(headers, 'grpc-status');
  if (code === undefined) return undefined;
  const parsed = Number(code);
  return {
    code: (Number.isInteger(parsed) ? parsed : GrpcStatus.UNKNOWN) as GrpcStatus,
    message: percentDecode(header(headers, 'grpc-message') ?? ''),
    errorCode: header(headers, ERROR_CODE_HEADER),
  };
}

function errorOf(status: CallStatus): FlightError {
  return new FlightError(status.code, status.message, status.errorCode);
}

/** Waits until the stream can take more data or is gone. */
function writable(stream: CallStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/** Complete messages a stream has delivered and not yet taken; reading pauses while too many wait. */
class Inbox {
  private readonly messages: Uint8Array[] = [];
  private head = 0;
  private ended = false;
  private error: unknown;
  private wake: (() => void) | undefined;

  constructor(private readonly stream: CallStream, private readonly reader: GrpcMessageReader) {
    const take = (messages: () => Uint8Array[]) => {
      try {
        for (const message of messages()) this.messages.push(message);
      } catch (error) {
        this.fail(error);
        return;
      }
      if (this.messages.length - this.head >= INBOX_MESSAGES_MAX) stream.pause();
      this.notify();
    };
    stream.on('data', (chunk: Buffer) => take(() => reader.push(chunk)));
    stream.setDirectSink?.({ target: (max) => reader.directTarget(max), landed: (bytes) => take(() => reader.landed(bytes)) });
    stream.on('end', () => {
      this.ended = true;
      this.notify();
    });
    stream.on('error', (error) => this.fail(error));
    stream.on('close', () => {
      this.ended = true;
      this.notify();
    });
  }

  get idle(): boolean {
    return this.reader.idle;
  }

  /** The next message; undefined at the end of the stream. */
  async next(): Promise<Uint8Array | undefined> {
    for (;;) {
      if (this.head < this.messages.length) {
        const message = this.messages[this.head];
        this.messages[this.head++] = EMPTY;
        if (this.head === this.messages.length) {
          this.messages.length = 0;
          this.head = 0;
        }
        if (this.stream.isPaused() && this.messages.length - this.head < INBOX_MESSAGES_MAX) this.stream.resume();
        return message;
      }
      if (this.error !== undefined) throw this.error;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
  }

  private fail(error: unknown): void {
    this.error ??= error;
    if (!this.stream.closed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

export class Http2Call {
  private status: CallStatus | undefined;
  private httpFailure: FlightError | undefined;
  private localFailure: FlightError | undefined;
  private inputFailed = false;
  private inputError: unknown;
  private readonly inbox: Inbox;

  /** `transientChunks`: the stream's 'data' chunks are reused after the event (see GrpcMessageReader). */
  constructor(private readonly stream: CallStream, private readonly authority: string, messageBytesMax: number,
    private readonly options: CallOptions, transientChunks = false) {
    stream.on('response', (response) => {
      this.status ??= statusOf(response);
      const httpStatus = Number(response[':status']);
      if (httpStatus !== 200 && this.status === undefined) {
        this.httpFailure = new FlightError(GrpcStatus.UNKNOWN, `HTTP status ${httpStatus} from ${authority}`);
      }
    });
    stream.on('trailers', (trailers) => {
      this.status ??= statusOf(trailers);
    });
    this.inbox = new Inbox(stream, new GrpcMessageReader({ messageBytesMax, encoding: undefined, alignFlightDataBody: true, transientChunks }));
  }

  /** Writes the requests in the background, then half-closes; a failing request stream cancels the call. */
  send(requests: AsyncIterable<Uint8Array[]> | Iterable<Uint8Array[]>): void {
    const stream = this.stream;
    void (async () => {
      try {
        for await (const pieces of requests) {
          if (stream.closed || stream.destroyed) return;
          let flushed = true;
          for (const piece of pieces) flushed = stream.write(piece) && flushed;
          if (!flushed) await writable(stream);
        }
        if (!stream.closed && !stream.destroyed) stream.end();
      } catch (error) {
        this.inputFailed = true;
        this.inputError = error;
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      }
    })();
  }

  /** Response messages; throws the call's failure. Leaving early cancels the call. */
  async *responses(): AsyncGenerator<Uint8Array> {
    const { signal, timeoutMs } = this.options;
    const onAbort = () => this.cancel(new FlightError(GrpcStatus.CANCELLED, 'call cancelled'));
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = timeoutMs === undefined ? undefined
      : setTimeout(() => this.cancel(new FlightError(GrpcStatus.DEADLINE_EXCEEDED, 'deadline exceeded')), timeoutMs);
    try {
      for (;;) {
        let message: Uint8Array | undefined;
        try {
          message = await this.inbox.next();
        } catch (error) {
          throw this.failure(error);
        }
        if (message === undefined) break;
        yield message;
      }
      if (this.status === undefined && !this.stream.closed) await new Promise<void>((resolve) => this.stream.once('close', () => resolve()));
      if (this.inputFailed || this.localFailure || this.status?.code !== GrpcStatus.OK) throw this.failure();
      if (!this.inbox.idle) throw new FlightError(GrpcStatus.INTERNAL, 'the stream ended inside a message');
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (timer !== undefined) clearTimeout(timer);
      if (!this.stream.closed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    }
  }

  private cancel(failure: FlightError): void {
    this.localFailure ??= failure;
    if (!this.stream.closed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  private failure(transport?: unknown): unknown {
    if (this.inputFailed) return this.inputError;
    if (this.localFailure) return this.localFailure;
    if (this.status && this.status.code !== GrpcStatus.OK) return errorOf(this.status);
    if (this.httpFailure) return this.httpFailure;
    if (transport instanceof FlightError) return transport;
    if (transport instanceof Error) return new FlightError(GrpcStatus.UNAVAILABLE, `connection to ${this.authority} failed: ${transport.message}`);
    return new FlightError(GrpcStatus.UNAVAILABLE, `the connection to ${this.authority} closed before the call ended (no gRPC status; did the server stop?)`);
  }
}
