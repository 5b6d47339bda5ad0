/**
 * One request stream of the client's own HTTP/2 connection (http2-connection.ts), with the
 * part of node:http2's ClientHttp2Stream that a gRPC call uses: events `response`, `trailers`,
 * `data`, `end`, `error`, `close`, `drain`; `write`, `end`, `close(code)`, `pause`, `resume`.
 *
 * Receiving: payload pieces are handed to 'data' as they arrive: subarrays of the connection's
 * read buffer, valid only during the event (the next socket read reuses the memory), so a
 * listener copies what it keeps. While paused they wait here as copies, and the stream's flow-control window is credited only
 * for what was handed on, so a paused reader holds the server back after one window.
 * Sending: written pieces queue here and leave as DATA frames when the connection's and the
 * stream's send windows allow; write() returns false while more than a little waits.
 */
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http2';
import { Http2ErrorCode } from './http2-frames.ts';

/** Queued output bytes above which write() asks the writer to wait for 'drain'. */
const QUEUED_BYTES_HIGH = 1024 * 1024;

/** What the stream needs from its connection. */
export interface StreamOwner {
  /** The stream has output to send (or its end to signal). */
  wantsToSend(stream: Http2ClientStream): void;
  /** `bytes` of received DATA were handed to the reader. */
  consumed(stream: Http2ClientStream, bytes: number): void;
  /** Sends RST_STREAM(code) when the stream is open on the wire. */
  resetStream(stream: Http2ClientStream, code: number): void;
  /** The stream is over: forget it. */
  streamClosed(stream: Http2ClientStream): void;
}

export class Http2ClientStream extends EventEmitter {
  /** Stream id, 0 until its HEADERS are sent. */
  id = 0;
  /** Bytes the server lets us send on this stream. */
  sendWindow = 0;
  private readonly output: Uint8Array[] = [];
  private outputHead = 0;
  private outputOffset = 0;
  private queuedBytes = 0;
  private needsDrain = false;
  private localEndRequested = false;
  private localEnded = false;
  private remoteEnded = false;
  private responded = false;
  private paused = false;
  private readonly held: Buffer[] = [];
  private endHeld = false;
  private isClosed = false;

  constructor(private readonly owner: StreamOwner, readonly headerList: Array<[string, string]>) {
    super();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get destroyed(): boolean {
    return this.isClosed;
  }

  /** Queues `chunk` for sending; false when the writer should wait for 'drain'. */
  write(chunk: Uint8Array): boolean {
    if (this.isClosed || this.localEndRequested) return false;
    if (chunk.length > 0) {
      this.output.push(chunk);
      this.queuedBytes += chunk.length;
      this.owner.wantsToSend(this);
    }
    if (this.queuedBytes > QUEUED_BYTES_HIGH) this.needsDrain = true;
    return !this.needsDrain;
  }

  /** Half-closes: END_STREAM follows the queued output. */
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

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    while (!this.paused && this.held.length > 0) this.deliver(this.held.shift()!);
    if (!this.paused && this.endHeld) {
      this.endHeld = false;
      this.remoteEnd();
    }
  }

  isPaused(): boolean {
    return this.paused;
  }

  // ---- called by the connection ----

  /** True while output (or the end of it) waits to be sent. */
  get hasOutput(): boolean {
    return !this.isClosed && (this.queuedBytes > 0 || (this.localEndRequested && !this.localEnded));
  }

  /** Takes up to `bytes` of queued output, as subarrays; empty when nothing waits. */
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
        this.output[this.outputHead++] = new Uint8Array(0);
        this.outputOffset = 0;
      }
    }
    if (this.outputHead === this.output.length) {
      this.output.length = 0;
      this.outputHead = 0;
    }
    const taken = bytes - left;
    this.queuedBytes -= taken;
    return pieces;
  }

  get queuedOutputBytes(): number {
    return this.queuedBytes;
  }

  /** True once all output is taken and END_STREAM is due. */
  get endIsDue(): boolean {
    return this.localEndRequested && !this.localEnded && this.queuedBytes === 0;
  }

  /** END_STREAM was sent. */
  localEndSent(): void {
    this.localEnded = true;
    if (this.remoteEnded && !this.endHeld && this.held.length === 0) this.finish();
  }

  /** Output went below the high mark: a waiting writer may go on. */
  outputDrained(): void {
    if (this.needsDrain && this.queuedBytes <= QUEUED_BYTES_HIGH / 2) {
      this.needsDrain = false;
      this.emit('drain');
    }
  }

  receiveHeaders(headers: IncomingHttpHeaders, endStream: boolean): void {
    if (this.isClosed) return;
    if (!this.responded) {
      this.responded = true;
      this.emit('response', headers);
    } else {
      this.emit('trailers', headers);
    }
    if (endStream) this.receiveEnd();
  }

  receiveData(piece: Buffer): void {
    if (this.isClosed) return;
    if (this.paused) this.held.push(Buffer.from(piece)); // the piece's memory is the connection's next read
    else this.deliver(piece);
  }

  receiveEnd(): void {
    if (this.isClosed) return;
    if (this.paused || this.held.length > 0) this.endHeld = true;
    else this.remoteEnd();
  }

  /** The server reset the stream. */
  receiveReset(code: number): void {
    if (this.isClosed) return;
    if (code !== Http2ErrorCode.NO_ERROR && code !== Http2ErrorCode.CANCEL) {
      this.emit('error', new Error(`the server reset the stream (HTTP/2 error code ${code})`));
    }
    this.finish();
  }

  /** The connection failed or closed under the stream. */
  fail(error: Error): void {
    if (this.isClosed) return;
    this.emit('error', error);
    this.finish();
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

  private finish(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.held.length = 0;
    this.output.length = 0;
    this.queuedBytes = 0;
    this.owner.streamClosed(this);
    this.emit('close');
  }
}
