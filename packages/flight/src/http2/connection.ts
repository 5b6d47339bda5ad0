/**
 * Our HTTP/2 connection (RFC 9113, cleartext, as gRPC uses it): what client and server share.
 * ClientConnection (client-connection.ts) opens streams; ServerConnection
 * (server-connection.ts) accepts them.
 *
 * Why not node:http2: it hands every DATA frame or socket read to JavaScript as its own event
 * through its stream machinery and allocates a buffer per read; for 50 MB record batches that
 * is most of the cost of a transfer (a DoGet read by node:http2 ran at ~0.5x pyarrow's speed,
 * a DoPut received by it at ~0.6x the Arrow C++ server's). Here socket reads are parsed in one
 * pass and DATA payloads go to the reader as subarrays of those reads.
 *
 * Shared here: frame parsing, SETTINGS, flow control both ways (the peer's windows honoured,
 * ours credited as readers take data), PING, RST_STREAM, WINDOW_UPDATE, the peer's frame size,
 * header blocks (HPACK), sending DATA one frame per stream in turn. Not supported: TLS,
 * server push, priorities, HTTP/1 upgrade.
 */
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import { HpackDecoder, HpackError, encodeHeaders } from './hpack.ts';
import {
  DEFAULT_FRAME_BYTES_MAX, DEFAULT_WINDOW_BYTES, FRAME_HEADER_BYTES, FrameFlag, FrameReader, FrameType, Http2ErrorCode, Http2ProtocolError,
  Setting, WINDOW_BYTES_LIMIT, frame, frameHeader, goAwayFrame, headerBlockFragment, rstStreamFrame, settingsFrame, windowUpdateFrame,
  type FrameHandler,
} from './frames.ts';
import type { Http2Stream, StreamOwner } from './stream.ts';
import {
  ANSWERS_QUEUED_MAX, DIRECT_READ_BYTES_MIN, GRACEFUL_END_MS, HEADER_BLOCK_BYTES_MAX, HEADER_LIST_BYTES_MAX,
  HELD_WINDOWS_MAX, LAYOUT_READ_BYTES, RESETS_BURST, RESETS_PER_SECOND, SOCKET_QUEUED_BYTES_MAX,
} from './http2-limits.ts';
import { incomingHeaders, type HeaderBlock } from './header-block.ts';

export interface Http2ConnectionOptions {
  /** Receive window of each stream and of the connection, in bytes. */
  windowBytes: number;
  /** Largest frame the peer may send, in bytes (16 KiB to 16 MiB - 1). */
  frameBytesMax: number;
  /** Queued output of a stream above which its write() returns false, in bytes. */
  streamQueuedBytesHigh: number;
}

export abstract class Http2Connection<S extends Http2Stream> extends EventEmitter implements StreamOwner, FrameHandler {
  protected readonly streams = new Map<number, S>();
  protected readonly reader: FrameReader;
  protected peerInitialWindow = DEFAULT_WINDOW_BYTES;
  /**
   * One stream until the peer's SETTINGS arrive: a server refuses streams beyond its limit
   * (REFUSED_STREAM) even before we could know it, and a stream whose request was sent cannot
   * be retried.
   */
  protected peerStreamsMax = 1;
  private peerSettingsSeen = false;
  protected goingAway = false;
  protected closing = false;
  protected isDestroyed = false;
  private readonly decoder = new HpackDecoder();
  private readonly sending = new Set<S>();
  private connectionSendWindow = DEFAULT_WINDOW_BYTES;
  private peerFrameBytesMax = DEFAULT_FRAME_BYTES_MAX;
  private connectionUncredited = 0;
  private dataFrameBytes = 0;
  private dataFramePieces = 0;
  private headerBlock: HeaderBlock | undefined;
  private socketCongested = false;
  /** The read under way goes straight into this stream's memory. */
  private directRead: { stream: S; target: Uint8Array } | undefined;
  /** The last DATA frame was large and its stream takes payload in place: read the next frame header alone. */
  private directStreaming = false;
  private socketError: Error | undefined;
  private pumping = false;
  /** Answers written since the socket last had nothing queued (see writeAnswer). */
  private answersQueued = 0;
  /** Received bytes held by streams for paused readers. */
  private heldBytes = 0;
  private closeEmitted = false;
  private resetBudget = RESETS_BURST;
  private resetBudgetAtMs = performance.now();

  constructor(protected readonly socket: Socket, protected readonly options: Http2ConnectionOptions) {
    super();
    this.reader = new FrameReader(this, options.frameBytesMax);
    socket.setNoDelay(true);
    socket.on('drain', () => {
      this.socketCongested = false;
      this.answersQueued = 0;
      this.pump();
    });
    socket.on('error', (error) => { this.socketError ??= error; });
    socket.on('close', () => {
      if (this.isDestroyed) this.emitClose(); // the end of a graceful close
      else this.destroy(this.socketError ?? new Error('the connection closed'));
    });
  }

  get destroyed(): boolean {
    return this.isDestroyed;
  }

  /** Closes at once; every open stream fails with `error`. */
  destroy(error: Error = new Error('the connection closed')): void {
    if (this.isDestroyed) {
      this.socket.destroy(); // after a graceful end whose output the peer never read
      return;
    }
    this.isDestroyed = true;
    const streams = [...this.streams.values(), ...this.pendingStreams()];
    this.streams.clear();
    this.sending.clear();
    for (const stream of streams) stream.fail(error);
    this.socket.destroy();
    process.nextTick(() => this.emitClose());
  }

  // ---- what the roles provide ----

  /** A complete header block for `streamId`. */
  protected abstract receiveHeaderBlock(streamId: number, headers: IncomingHttpHeaders, endStream: boolean): void;
  protected abstract receiveGoAway(lastStreamId: number, code: number): void;
  /** Streams not yet open on the wire (a client's queued requests). */
  protected pendingStreams(): S[] {
    return [];
  }
  /** A stream is gone: a client may start a queued one, a closing connection may end. */
  protected abstract afterStreamClosed(): void;
  /** The peer's SETTINGS were applied. */
  protected afterSettings(): void {}

  /** Ends the socket after what is queued (a last RST_STREAM or GOAWAY); 'close' follows when it is closed. */
  protected endGracefully(): void {
    this.isDestroyed = true;
    this.sending.clear();
    this.socket.end();
    // A peer that reads nothing would keep the socket (and what is queued) forever.
    setTimeout(() => this.socket.destroy(), GRACEFUL_END_MS).unref();
  }

  private emitClose(): void {
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    this.emit('close');
  }

  // ---- StreamOwner ----

  heldChanged(bytes: number): void {
    this.heldBytes += bytes;
    if (bytes < 0) this.creditConnection(0);
  }

  wantsToSend(stream: Http2Stream): void {
    if (stream.id === 0 || this.isDestroyed || !this.streams.has(stream.id)) return;
    this.sending.add(stream as S);
    this.pump();
  }

  consumed(stream: Http2Stream, bytes: number): void {
    if (!this.streams.has(stream.id) || stream.readableEnded) return;
    stream.uncreditedBytes += bytes;
    if (stream.uncreditedBytes >= this.options.windowBytes / 2) {
      stream.receiveWindow += stream.uncreditedBytes;
      this.write(windowUpdateFrame(stream.id, stream.uncreditedBytes));
      stream.uncreditedBytes = 0;
    }
  }

  resetStream(stream: Http2Stream, code: number): void {
    if (stream.id !== 0 && this.streams.has(stream.id) && !this.isDestroyed) this.write(rstStreamFrame(stream.id, code));
  }

  sendHeaderBlock(stream: Http2Stream, headers: Array<[string, string]>, endStream: boolean): void {
    if (this.isDestroyed) return;
    const block = encodeHeaders(headers);
    let offset = 0;
    this.socket.cork();
    do {
      const length = Math.min(block.length - offset, this.peerFrameBytesMax);
      const last = offset + length === block.length;
      const type = offset === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
      const flags = (last ? FrameFlag.END_HEADERS : 0) | (offset === 0 && endStream ? FrameFlag.END_STREAM : 0);
      this.write(frame(type, flags, stream.id, block.subarray(offset, offset + length)));
      offset += length;
    } while (offset < block.length);
    this.socket.uncork();
  }

  streamClosed(stream: Http2Stream): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    this.sending.delete(stream as S);
    this.afterStreamClosed();
  }

  // ---- FrameHandler ----

  dataStart(streamId: number, frameBytes: number): void {
    if (streamId === 0) throw new Http2ProtocolError(Http2ErrorCode.PROTOCOL_ERROR, 'DATA frame on stream 0');
    if (this.headerBlock) throw new Http2ProtocolError(Http2ErrorCode.PROTOCOL_ERROR, 'header block interrupted by DATA');
    const stream = this.streams.get(streamId);
    if (stream) {
      if (frameBytes > stream.receiveWindow) {
        throw new Http2ProtocolError(Http2ErrorCode.FLOW_CONTROL_ERROR, `DATA of ${frameBytes} bytes exceeds stream ${streamId}'s window of ${stream.receiveWindow}`);
      }
      stream.receiveWindow -= frameBytes;
    }
    this.dataFrameBytes = frameBytes;
    this.dataFramePieces = 0;
    this.directStreaming = frameBytes >= DIRECT_READ_BYTES_MIN && stream?.takesDirect === true;
    this.creditConnection(frameBytes);
  }

  /** One reset of an open stream against the peer's budget (see RESETS_BURST). */
  private chargeReset(): void {
    const nowMs = performance.now();
    this.resetBudget = Math.min(RESETS_BURST, this.resetBudget + ((nowMs - this.resetBudgetAtMs) / 1000) * RESETS_PER_SECOND);
    this.resetBudgetAtMs = nowMs;
    if (--this.resetBudget < 0) throw new Http2ProtocolError(Http2ErrorCode.ENHANCE_YOUR_CALM, 'too many streams reset');
  }

  /**
   * Counts received bytes toward the connection's window and credits it back once half is
   * used, unless streams hold more than HELD_WINDOWS_MAX windows for paused readers (then the
   * credit waits until they take some).
   */
  private creditConnection(bytes: number): void {
    this.connectionUncredited += bytes;
    if (this.connectionUncredited < this.options.windowBytes / 2) return;
    if (this.heldBytes > HELD_WINDOWS_MAX * this.options.windowBytes || this.isDestroyed) return;
    this.write(windowUpdateFrame(0, this.connectionUncredited));
    this.connectionUncredited = 0;
  }

  dataPiece(streamId: number, piece: Buffer): void {
    this.dataFramePieces += piece.length;
    this.streams.get(streamId)?.receiveData(piece);
  }

  dataEnd(streamId: number, flags: number): void {
    const stream = this.streams.get(streamId);
    if (!stream) return;
    // Padding counts against the window but never reaches the reader: credit it now.
    const padding = this.dataFrameBytes - this.dataFramePieces;
    if (padding > 0) this.consumed(stream, padding);
    if (flags & FrameFlag.END_STREAM) stream.receiveEnd();
  }

  frame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.headerBlock && type !== FrameType.CONTINUATION) {
      throw new Http2ProtocolError(Http2ErrorCode.PROTOCOL_ERROR, 'header block interrupted by another frame');
    }
    switch (type) {
      case FrameType.HEADERS:
        if (streamId === 0) throw new Http2ProtocolError(Http2ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
        this.headerBlock = { streamId, endStream: (flags & FrameFlag.END_STREAM) !== 0, fragments: [], bytes: 0 };
        this.continueHeaders(type, flags, payload);
        break;
      case FrameType.CONTINUATION:
        if (!this.headerBlock || this.headerBlock.streamId !== streamId) {
          throw new Http2ProtocolError(Http2ErrorCode.PROTOCOL_ERROR, 'unexpected CONTINUATION frame');
        }
        this.continueHeaders(type, flags, payload);
        break;
      case FrameType.SETTINGS: this.receiveSettings(flags, streamId, payload); break;
      case FrameType.PING:
        if (payload.length !== 8) throw new Http2ProtocolError(Http2ErrorCode.FRAME_SIZE_ERROR, 'PING payload is not 8 bytes');
        if (!(flags & FrameFlag.ACK)) this.writeAnswer(frame(FrameType.PING, FrameFlag.ACK, 0, payload));
        break;
      case FrameType.WINDOW_UPDATE: this.receiveWindowUpdate(streamId, payload); break;
      case FrameType.RST_STREAM: {
        if (payload.length !== 4) throw new Http2ProtocolError(Http2ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM payload is not 4 bytes');
        const stream = this.streams.get(streamId);
        if (stream) this.chargeReset();
        this.streams.delete(streamId);
        stream?.receiveReset(payload.readUInt32BE(0));
        this.afterStreamClosed();
        break;
      }
      case FrameType.GOAWAY:
        if (payload.length < 8) throw new Http2ProtocolError(Http2ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY payload shorter than 8 bytes');
        this.receiveGoAway(payload.readUInt32BE(0) & 0x7fffffff, payload.readUInt32BE(4));
        break;
      case FrameType.PUSH_PROMISE:
        throw new Http2ProtocolError(Http2ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE although push is disabled');
      default: break; // PRIORITY and unknown frame types are ignored
    }
  }

  // ---- internals ----

  /**
   * The memory the next socket read should fill (net's `onread` buffer function): inside a
   * DATA payload whose reader offers its own memory (see DirectSink), that memory, so the
   * kernel copies the payload to where it stays; otherwise `readBuffer`.
   */
  nextReadBuffer(readBuffer: Buffer): Uint8Array {
    this.directRead = undefined;
    if (this.isDestroyed) return readBuffer;
    const remaining = this.reader.payloadRemaining;
    if (remaining === 0) {
      // Between frames of a large transfer: the frame header alone, so the payload after it
      // can go straight into place.
      return this.directStreaming && this.reader.atFrameStart ? readBuffer.subarray(0, FRAME_HEADER_BYTES) : readBuffer;
    }
    const stream = this.streams.get(this.reader.payloadStreamId);
    if (!stream?.takesDirect) return readBuffer;
    // The short end of a large frame: read just that, so the next frame's header is read on its
    // own and its payload can go straight into place.
    if (remaining < DIRECT_READ_BYTES_MIN) return this.directStreaming ? readBuffer.subarray(0, remaining) : readBuffer;
    const target = stream.directTarget(remaining);
    if (!target) return readBuffer.subarray(0, LAYOUT_READ_BYTES); // the start of a message: its layout first
    // The end of a message: read just that, so the next message's start is read on its own
    // (its layout first) instead of a whole read buffer of it being copied into place.
    if (target.length < DIRECT_READ_BYTES_MIN) return readBuffer.subarray(0, target.length);
    this.directRead = { stream, target };
    return target;
  }

  /** A socket read of `bytes` into `buffer`: a message's memory (see nextReadBuffer) or the read buffer, to parse. */
  readInto(bytes: number, buffer: Uint8Array, readBuffer: Buffer): void {
    const direct = this.directRead;
    this.directRead = undefined;
    if (!direct || buffer !== direct.target) {
      this.receive(readBuffer.subarray(0, bytes));
      return;
    }
    if (this.isDestroyed) return;
    try {
      this.dataFramePieces += bytes;
      direct.stream.landedInPlace(bytes); // before the frame ends: its END_STREAM follows the data
      this.reader.skipPayload(bytes);
    } catch (error) {
      this.protocolFailure(error);
    }
  }

  /** Feeds socket bytes to the frame reader; a protocol failure closes the connection. */
  protected receive(chunk: Buffer): void {
    if (this.isDestroyed) return;
    try {
      this.reader.push(chunk);
    } catch (error) {
      this.protocolFailure(error);
    }
  }

  protected protocolFailure(error: unknown): void {
    const code = error instanceof Http2ProtocolError ? error.code
      : error instanceof HpackError ? Http2ErrorCode.COMPRESSION_ERROR : Http2ErrorCode.INTERNAL_ERROR;
    if (!this.isDestroyed) this.socket.write(goAwayFrame(this.lastPeerStreamId(), code));
    this.destroy(new Error(`HTTP/2 protocol error: ${(error as Error).message}`));
  }

  /**
   * What each side sends first after its preface: its SETTINGS, then a connection
   * WINDOW_UPDATE when our window is larger than the default one.
   */
  protected openingFrames(settings: Array<[number, number]>): Buffer[] {
    const frames = [settingsFrame(settings)];
    if (this.options.windowBytes > DEFAULT_WINDOW_BYTES) frames.push(windowUpdateFrame(0, this.options.windowBytes - DEFAULT_WINDOW_BYTES));
    return frames;
  }

  /** For GOAWAY: the highest stream id the peer opened that we handle (0 for a client). */
  protected lastPeerStreamId(): number {
    return 0;
  }

  /** Registers an open stream with the peer's initial window. */
  protected openStream(stream: S): void {
    stream.sendWindow = this.peerInitialWindow;
    // Until our SETTINGS arrive the peer may use the default window, if that is larger.
    stream.receiveWindow = Math.max(this.options.windowBytes, DEFAULT_WINDOW_BYTES);
    this.streams.set(stream.id, stream);
  }

  private continueHeaders(type: number, flags: number, payload: Buffer): void {
    const block = this.headerBlock!;
    const fragment = headerBlockFragment(type, flags, payload);
    block.fragments.push(fragment);
    block.bytes += FRAME_HEADER_BYTES + fragment.length; // empty CONTINUATION frames count too
    if (block.bytes > HEADER_BLOCK_BYTES_MAX) {
      throw new Http2ProtocolError(Http2ErrorCode.PROTOCOL_ERROR, `header block over ${HEADER_BLOCK_BYTES_MAX} bytes`);
    }
    if (!(flags & FrameFlag.END_HEADERS)) return;
    this.headerBlock = undefined;
    // Every block is decoded, even for a stream already gone: the HPACK table is the connection's.
    const list = this.decoder.decode(Buffer.concat(block.fragments));
    let listBytes = 0;
    for (const [name, value] of list) listBytes += name.length + value.length + 32;
    if (listBytes > HEADER_LIST_BYTES_MAX) {
      throw new Http2ProtocolError(Http2ErrorCode.ENHANCE_YOUR_CALM, `header list of ${listBytes} bytes exceeds ${HEADER_LIST_BYTES_MAX}`);
    }
    this.receiveHeaderBlock(block.streamId, incomingHeaders(list), block.endStream);
  }

  private receiveSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new Http2ProtocolError(Http2ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & FrameFlag.ACK) return;
    if (payload.length % 6 !== 0) throw new Http2ProtocolError(Http2ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS payload not a multiple of 6');
    if (!this.peerSettingsSeen) {
      this.peerSettingsSeen = true;
      this.peerStreamsMax = Number.POSITIVE_INFINITY; // unless these SETTINGS limit it
    }
    const initialWindow = this.peerInitialWindow;
    for (let offset = 0; offset < payload.length; offset += 6) {
      const id = payload.readUInt16BE(offset);
      const value = payload.readUInt32BE(offset + 2);
      if (id === Setting.INITIAL_WINDOW_SIZE) {
        if (value > WINDOW_BYTES_LIMIT) throw new Http2ProtocolError(Http2ErrorCode.FLOW_CONTROL_ERROR, 'initial window above 2^31-1');
        this.peerInitialWindow = value; // applied to the streams once, below: a frame may repeat it many times
      } else if (id === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_FRAME_BYTES_MAX || value > 16_777_215) {
          throw new Http2ProtocolError(Http2ErrorCode.PROTOCOL_ERROR, `bad MAX_FRAME_SIZE ${value}`);
        }
        this.peerFrameBytesMax = value;
      } else if (id === Setting.MAX_CONCURRENT_STREAMS) {
        this.peerStreamsMax = value;
      }
    }
    const delta = this.peerInitialWindow - initialWindow;
    if (delta !== 0) for (const stream of this.streams.values()) stream.sendWindow += delta;
    this.writeAnswer(frame(FrameType.SETTINGS, FrameFlag.ACK, 0));
    this.afterSettings();
    this.pump();
  }

  private receiveWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new Http2ProtocolError(Http2ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE payload is not 4 bytes');
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (streamId === 0) {
      if (increment === 0) throw new Http2ProtocolError(Http2ErrorCode.PROTOCOL_ERROR, 'connection WINDOW_UPDATE of 0');
      this.connectionSendWindow += increment;
      if (this.connectionSendWindow > WINDOW_BYTES_LIMIT) {
        throw new Http2ProtocolError(Http2ErrorCode.FLOW_CONTROL_ERROR, 'connection send window above 2^31-1');
      }
    } else {
      const stream = this.streams.get(streamId);
      if (stream) stream.sendWindow += increment;
    }
    this.pump();
  }

  /** Sends queued output as DATA frames, one frame per stream in turn, while windows and the socket allow. */
  protected pump(): void {
    if (this.pumping || this.isDestroyed || this.sending.size === 0) return;
    this.pumping = true;
    this.socket.cork();
    try {
      let progress = true;
      while (progress && !this.socketCongested && !this.isDestroyed) {
        progress = false;
        for (const stream of this.sending) {
          if (this.sendFrame(stream)) progress = true;
          if (!stream.hasOutput) this.sending.delete(stream);
          if (this.socketCongested) break;
        }
      }
    } finally {
      this.pumping = false;
      this.socket.uncork();
    }
  }

  /** One DATA frame of `stream`'s output (or its end); false when nothing could be sent. */
  private sendFrame(stream: S): boolean {
    if (stream.queuedOutputBytes > 0) {
      const budget = Math.min(this.connectionSendWindow, stream.sendWindow, this.peerFrameBytesMax);
      if (budget <= 0) return false;
      const pieces = stream.takeOutput(budget);
      let length = 0;
      for (const piece of pieces) length += piece.length;
      const due = stream.endIsDue;
      const trailers = due && stream.endsWithTrailers();
      this.write(frameHeader(length, FrameType.DATA, due && !trailers ? FrameFlag.END_STREAM : 0, stream.id));
      for (const piece of pieces) this.write(piece);
      this.connectionSendWindow -= length;
      stream.sendWindow -= length;
      stream.outputDrained();
      if (trailers) stream.sendOwnEnd();
      else if (due) stream.localEndSent();
      return true;
    }
    if (!stream.endIsDue) return false;
    if (stream.endsWithTrailers()) stream.sendOwnEnd();
    else {
      this.write(frameHeader(0, FrameType.DATA, FrameFlag.END_STREAM, stream.id));
      stream.localEndSent();
    }
    return true;
  }

  /**
   * Writes a frame the peer's frame asked for. A peer that keeps asking while it reads nothing
   * (PING or SETTINGS floods) would queue answers without bound: past ANSWERS_QUEUED_MAX it is cut off.
   */
  protected writeAnswer(bytes: Uint8Array): void {
    if (this.socket.writableLength === 0) this.answersQueued = 0;
    else if (++this.answersQueued > ANSWERS_QUEUED_MAX) {
      throw new Http2ProtocolError(Http2ErrorCode.ENHANCE_YOUR_CALM, 'the peer asks for answers it does not read');
    }
    this.write(bytes);
  }

  protected write(bytes: Uint8Array): void {
    if (this.isDestroyed) return;
    this.socket.write(bytes);
    if (this.socket.writableLength > SOCKET_QUEUED_BYTES_MAX) this.socketCongested = true;
  }
}
