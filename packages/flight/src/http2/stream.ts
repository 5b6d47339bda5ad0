/**
 * One stream of our HTTP/2 connections (connection.ts), with the part of node:http2's stream
 * API that gRPC calls use: events `data`, `end`, `error`, `close`, `drain`; `write`, `end`,
 * `close(code)`, `pause`, `resume`. ClientStream (client-stream.ts) adds `response` and
 * `trailers`; ServerStream (server-stream.ts) adds `respond`, `sendTrailers` and `wantTrailers`.
 *
 * Receiving: payload pieces are handed to 'data' as they arrive, as subarrays of the
 * connection's reads, valid only during the event (a read buffer may be reused), so a listener
 * copies what it keeps. While paused they wait here as copies, and the stream's flow-control
 * window is credited only for what was handed on, so a paused reader holds the peer back
 * after one window.
 * Sending: written pieces queue here (no copy) and leave as DATA frames when the connection's
 * and the stream's send windows allow; write() returns false while too much waits.
 */
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { Http2ErrorCode } from './frames.ts';

/** What a stream needs from its connection. */
export interface StreamOwner {
  /** The stream has output to send (or its end to signal). */
  wantsToSend(stream: Http2Stream): void;
  /** `bytes` of received DATA were handed to the reader. */
  consumed(stream: Http2Stream, bytes: number): void;
  /** Sends RST_STREAM(code) when the stream is open on the wire. */
  resetStream(stream: Http2Stream, code: number): void;
  /** Sends a header block on the stream (END_STREAM when `endStream`). */
  sendHeaderBlock(stream: Http2Stream, headers: Array<[string, string]>, endStream: boolean): void;
  /** The stream is over: forget it. */
  streamClosed(stream: Http2Stream): void;
  /** Received bytes the stream holds for a paused reader grew (or shrank, negative). */
  heldChanged(bytes: number): void;
}

/**
 * Where a stream's reader wants DATA payload to land: its own memory (the message being
 * assembled), so that the connection can have the socket read straight into it, with no copy
 * through a read buffer.
 */
export interface DirectSink {
  /** Memory for up to `max` next payload bytes, or undefined to take them as 'data' events. */
  target(max: number): Uint8Array | undefined;
  /** `bytes` landed at the start of the last target given. */
  landed(bytes: number): void;
}

/** Header fields in wire order: pseudo-headers first, names lower-case, arrays expanded. */
export function headerList(headers: OutgoingHttpHeaders, first: Array<[string, string]> = []): Array<[string, string]> {
  const pseudo: Array<[string, string]> = [...first];
  const regular: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [String(value)];
    for (const item of values) (name.startsWith(':') ? pseudo : regular).push([name.toLowerCase(), item]);
  }
  return [...pseudo, ...regular];
}

export abstract class Http2Stream extends EventEmitter {
  /** Stream id, 0 until the stream is open on the wire. */
  id = 0;
  /** Bytes the peer lets us send on this stream. */
  sendWindow = 0;
  /** Received DATA bytes this stream may still take: its window as we advertised it (kept by the connection). */
  receiveWindow = 0;
  /** Bytes its reader took and the connection has not credited back yet. */
  uncreditedBytes = 0;
  private readonly output: Uint8Array[] = [];
  private outputHead = 0;
  private outputOffset = 0;
  private queuedBytes = 0;
  private needsDrain = false;
  private localEndRequested = false;
  private localEnded = false;
  private remoteEnded = false;
  private paused = false;
  private readonly held: Buffer[] = [];
  private endHeld = false;
  private isClosed = false;
  private directSink: DirectSink | undefined;

  constructor(protected readonly owner: StreamOwner, private readonly queuedBytesHigh: number) {
    super();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get destroyed(): boolean {
    return this.isClosed;
  }

  /** True once the peer ended its side and everything it sent was handed on. */
  get readableEnded(): boolean {
    return this.remoteEnded;
  }

  /** True once the peer ended its side, whether or not what it sent was handed on yet. */
  protected get remoteEndReceived(): boolean {
    return this.remoteEnded || this.endHeld;
  }

  /** Queues `chunk` for sending; false when the writer should wait for 'drain'. */
  write(chunk: Uint8Array): boolean {
    if (this.isClosed || this.localEndRequested) return false;
    if (chunk.length > 0) {
      this.output.push(chunk);
      this.queuedBytes += chunk.length;
      this.owner.wantsToSend(this);
    }
    if (this.queuedBytes > this.queuedBytesHigh) this.needsDrain = true;
    return !this.needsDrain;
  }

  /** Half-closes: the end of the stream follows the queued output. */
  end(): void {
    if (this.isClosed || this.localEndRequested) return;
    this.localEndRequested = true;
    this.owner.wantsToSend(this);
  }

  /** Resets the stream (RST_STREAM with `code`, CANCEL by default). */
  close(code: number = Http2ErrorCode.CANCEL): void {
    if (this.isClosed) return;
    this.owner.resetStream(this, code);
    this.finish();
  }

  pause(): this {
    this.paused = true;
    return this;
  }

  resume(): this {
    if (!this.paused) return this;
    this.paused = false;
    while (!this.paused && this.held.length > 0) {
      const piece = this.held.shift()!;
      this.owner.heldChanged(-piece.length);
      this.deliver(piece);
    }
    if (!this.paused && this.endHeld) {
      this.endHeld = false;
      this.remoteEnd();
    }
    return this;
  }

  isPaused(): boolean {
    return this.paused;
  }

  /** Lets the reader take payload into its own memory (undefined: 'data' events only). */
  setDirectSink(sink: DirectSink | undefined): void {
    this.directSink = sink;
  }

  /** True while payload could be read into the reader's memory: it offers some and takes data now. */
  get takesDirect(): boolean {
    return this.directSink !== undefined && !this.paused && this.held.length === 0 && !this.isClosed && !this.remoteEndReceived;
  }

  /** Memory for up to `max` next payload bytes (see takesDirect); undefined until the reader knows where they go. */
  directTarget(max: number): Uint8Array | undefined {
    return this.takesDirect ? this.directSink?.target(max) : undefined;
  }

  /** `bytes` of payload were read into the last directTarget(). */
  landedInPlace(bytes: number): void {
    if (this.isClosed) return; // the call is gone; what landed was its own memory
    this.owner.consumed(this, bytes);
    this.directSink?.landed(bytes);
  }

  // ---- called by the connection ----

  /** True while output (or the end of it) waits to be sent. */
  get hasOutput(): boolean {
    return !this.isClosed && (this.queuedBytes > 0 || (this.localEndRequested && !this.localEnded));
  }

  get queuedOutputBytes(): number {
    return this.queuedBytes;
  }

  /** True once all output is taken and the end is due. */
  get endIsDue(): boolean {
    return this.localEndRequested && !this.localEnded && this.queuedBytes === 0;
  }

  /** Takes up to `bytes` of queued output, as subarrays. */
  takeOutput(bytes: number): Uint8Array[] {
    const pieces: Uint8Array[] = [];
    let left = bytes;
    while (left > 0 && this.outputHead < this.output.length) {
      const chunk = this.output[this.outputHead];
      const take = Math.min(left, chunk.length - this.outputOffset);
      pieces.push(chunk.subarray(this.outputOffset, this.outputOffset + take));
      this.outputOffset += take;
      left -= take;
      if (this.outputOffset === chunk.length) {
        this.output[this.outputHead++] = EMPTY;
        this.outputOffset = 0;
      }
    }
    if (this.outputHead === this.output.length) {
      this.output.length = 0;
      this.outputHead = 0;
    }
    this.queuedBytes -= bytes - left;
    return pieces;
  }

  /** True when the stream ends with its own trailers rather than END_STREAM on a DATA frame. */
  endsWithTrailers(): boolean {
    return false;
  }

  /** Sends the trailers that end the stream (when endsWithTrailers()). */
  sendOwnEnd(): void {}

  /** END_STREAM went out. */
  localEndSent(): void {
    this.localEndRequested = true;
    this.localEnded = true;
    if (this.remoteEnded && !this.endHeld && this.held.length === 0) this.finish();
  }

  /** Output went below half the high mark: a waiting writer may go on. */
  outputDrained(): void {
    if (this.needsDrain && this.queuedBytes <= this.queuedBytesHigh / 2) {
      this.needsDrain = false;
      this.emit('drain');
    }
  }

  /** A header block arrived for this stream. */
  abstract receiveHeaders(headers: IncomingHttpHeaders, endStream: boolean): void;

  receiveData(piece: Buffer): void {
    if (this.isClosed || this.remoteEndReceived) return; // DATA after END_STREAM is not the peer's to send
    if (this.paused) {
      this.held.push(Buffer.from(piece)); // the piece's memory is the connection's next read
      this.owner.heldChanged(piece.length);
    } else this.deliver(piece);
  }

  receiveEnd(): void {
    if (this.isClosed || this.remoteEndReceived) return;
    if (this.paused || this.held.length > 0) this.endHeld = true;
    else this.remoteEnd();
  }

  /** The peer reset the stream. */
  receiveReset(code: number): void {
    if (this.isClosed) return;
    if (code === Http2ErrorCode.NO_ERROR) {
      // The peer wants no more of what we send (RFC 9113 8.1). Nothing more goes out, but what
      // it sent is still handed on, held pieces included, then 'end', as node:http2 does.
      this.dropOutput();
      this.localEndRequested = true;
      this.localEnded = true;
      if (this.remoteEnded) this.finish();
      else this.receiveEnd();
      return;
    }
    if (code !== Http2ErrorCode.CANCEL && this.listenerCount('error') > 0) {
      this.emit('error', new Error(`the peer reset the stream (HTTP/2 error code ${code})`));
    }
    this.finish();
  }

  /** The connection failed or closed under the stream. */
  fail(error: Error): void {
    if (this.isClosed) return;
    if (this.listenerCount('error') > 0) this.emit('error', error);
    this.finish();
  }

  private dropOutput(): void {
    this.output.length = 0;
    this.outputHead = 0;
    this.outputOffset = 0;
    this.queuedBytes = 0;
  }

  private deliver(piece: Buffer): void {
    this.owner.consumed(this, piece.length);
    this.emit('data', piece);
  }

  private remoteEnd(): void {
    this.remoteEnded = true;
    this.emit('end');
    if (this.localEnded) this.finish();
  }

  protected finish(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.directSink = undefined;
    let heldBytes = 0;
    for (const piece of this.held) heldBytes += piece.length;
    this.held.length = 0;
    if (heldBytes > 0) this.owner.heldChanged(-heldBytes);
    this.dropOutput();
    this.owner.streamClosed(this);
    this.emit('close');
  }
}

const EMPTY = new Uint8Array(0);
