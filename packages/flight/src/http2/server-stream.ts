/** A server's stream of our HTTP/2 connection (see stream.ts and server-connection.ts). */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { Http2ErrorCode } from './frames.ts';
import { Http2Stream, headerList, type StreamOwner } from './stream.ts';

/** The peer's address, as node:http2 offers it through `stream.session.socket`. */
export interface PeerSocket {
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  readonly remoteFamily?: string;
}

/**
 * A server's stream: `respond` sends the response headers, `sendTrailers` ends it after
 * 'wantTrailers'. Like a Readable, it holds received data until a 'data' listener is added
 * (the handler may start reading a few ticks after the stream arrives). A request the handler
 * never started reading is dropped once both sides have ended, as node:http2 does, so the
 * stream can close (and free its place under the connection's stream limit).
 */
export class ServerStream extends Http2Stream {
  private waitForTrailers = false;
  private trailersSent = false;
  private pausedByReader = false;
  private readerStarted = false;
  private localEndDone = false;

  constructor(owner: StreamOwner, queuedBytesHigh: number, readonly session: { readonly socket: PeerSocket }) {
    super(owner, queuedBytesHigh);
    super.pause();
  }

  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    super.on(event, listener as (...args: unknown[]) => void);
    // As a Readable does: a 'data' listener starts the flow on the next tick, after the caller
    // has added its 'end' listener too.
    if (event === 'data') this.readerStarted = true;
    if (event === 'data' && !this.pausedByReader) process.nextTick(() => { if (!this.pausedByReader) super.resume(); });
    return this;
  }

  override addListener(event: string | symbol, listener: (...args: never[]) => void): this {
    return this.on(event, listener);
  }

  override pause(): this {
    this.pausedByReader = true;
    this.readerStarted = true;
    return super.pause();
  }

  override resume(): this {
    this.pausedByReader = false;
    this.readerStarted = true;
    return super.resume();
  }

  override receiveEnd(): void {
    super.receiveEnd();
    this.dropUnreadRequest();
  }

  override localEndSent(): void {
    this.localEndDone = true;
    super.localEndSent();
    this.dropUnreadRequest();
    // The response is complete while the client still sends (a DoPut refused halfway): tell it
    // to stop (RFC 9113 8.1) rather than read and drop the rest of its upload.
    if (!this.closed && !this.remoteEndReceived) this.close(Http2ErrorCode.NO_ERROR);
  }

  /** Both sides ended and the handler never read: what the client sent is handed to no one, and the stream closes. */
  private dropUnreadRequest(): void {
    if (this.localEndDone && this.remoteEndReceived && !this.readerStarted && !this.closed) super.resume();
  }

  respond(headers: OutgoingHttpHeaders, options: { endStream?: boolean; waitForTrailers?: boolean } = {}): void {
    if (this.closed) return;
    this.waitForTrailers = options.waitForTrailers === true;
    const list = headerList(headers);
    this.owner.sendHeaderBlock(this, list, options.endStream === true);
    if (options.endStream) this.localEndSent();
  }

  /** Ends the stream with trailers; called from a 'wantTrailers' listener. */
  sendTrailers(headers: OutgoingHttpHeaders): void {
    if (this.closed || this.trailersSent) return;
    this.trailersSent = true;
    this.owner.sendHeaderBlock(this, headerList(headers), true);
    this.localEndSent();
  }

  override endsWithTrailers(): boolean {
    return this.waitForTrailers && !this.trailersSent;
  }

  override sendOwnEnd(): void {
    this.emit('wantTrailers');
    if (!this.trailersSent) this.sendTrailers({}); // no listener sent them: end with empty trailers
  }

  /** Headers after the request headers are the client's trailers: they only end the request. */
  receiveHeaders(_headers: IncomingHttpHeaders, endStream: boolean): void {
    if (endStream) this.receiveEnd();
  }
}
