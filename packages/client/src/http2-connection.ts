/**
 * A client HTTP/2 connection (RFC 9113, cleartext "prior knowledge", as gRPC uses it) written
 * for the data plane: record batches in, record batches out.
 *
 * Why not node:http2: it hands every DATA frame to JavaScript as its own 'data' event, and
 * servers send 16 KiB frames, so a 52 MB DoGet costs ~3,200 events plus Node's per-event
 * stream machinery: ~40 ms of CPU per read on the bench machine, more than pyarrow spends on
 * the whole read. Here the socket's reads (64 KiB and up) are parsed in one pass, and DATA
 * payloads go to the reader as subarrays of those reads.
 *
 * What it does: the preface and SETTINGS (push disabled, large windows), HPACK headers
 * (stateless literal encoding out, full decoding in), flow control both ways (send windows
 * honoured, receive windows credited as the reader takes data), PING replies, RST_STREAM,
 * GOAWAY, the peer's frame size and stream limits. What it does not do: TLS, server push,
 * priorities.
 */
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import net from 'node:net';
import { HpackDecoder, HpackError, encodeHeaders } from './hpack.ts';
import { Http2ClientStream, type StreamOwner } from './http2-client-stream.ts';
import {
  CONNECTION_PREFACE, DEFAULT_FRAME_BYTES_MAX, DEFAULT_WINDOW_BYTES, FrameFlag, FrameReader, FrameType,
  Http2ErrorCode, Http2ProtocolError, Setting, WINDOW_BYTES_LIMIT, frame, frameHeader, goAwayFrame,
  headerBlockFragment, rstStreamFrame, settingsFrame, windowUpdateFrame, type FrameHandler,
} from './http2-frames.ts';

/** The socket's read buffer: one read takes up to this much. */
const READ_BUFFER_BYTES = 1024 * 1024;
/** Bytes waiting in the socket above which sending pauses until it drains. */
const SOCKET_QUEUED_BYTES_MAX = 4 * 1024 * 1024;
const STREAM_ID_MAX = 2 ** 31 - 1;

export interface Http2ConnectionOptions {
  /** Receive window of each stream and of the connection, in bytes. */
  windowBytes: number;
  /** Largest frame the server may send, in bytes (16 KiB to 16 MiB - 1). */
  frameBytesMax: number;
}

interface HeaderBlock {
  streamId: number;
  endStream: boolean;
  fragments: Buffer[];
}

/** `host:port` or `[v6]:port` split for net.connect. */
function splitAuthority(authority: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(authority);
  if (!match) throw new Error(`bad address "${authority}" (expected host:port)`);
  return { host: match[1] ?? match[2], port: Number(match[3]) };
}

function incomingHeaders(list: ReadonlyArray<[string, string]>): IncomingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of list) {
    const previous = headers[name];
    if (previous === undefined) headers[name] = value;
    else headers[name] = Array.isArray(previous) ? [...previous, value] : [previous, value];
  }
  return headers as IncomingHttpHeaders;
}

export class Http2Connection extends EventEmitter implements StreamOwner, FrameHandler {
  private readonly socket: net.Socket;
  private readonly reader: FrameReader;
  private readonly decoder = new HpackDecoder();
  private readonly streams = new Map<number, Http2ClientStream>();
  private readonly waiting: Http2ClientStream[] = [];
  private readonly sending = new Set<Http2ClientStream>();
  /** Received bytes handed to each stream's reader and not yet credited back. */
  private readonly uncredited = new Map<number, number>();
  private nextStreamId = 1;
  private connectionSendWindow = DEFAULT_WINDOW_BYTES;
  private peerInitialWindow = DEFAULT_WINDOW_BYTES;
  private peerFrameBytesMax = DEFAULT_FRAME_BYTES_MAX;
  private peerStreamsMax = Number.POSITIVE_INFINITY;
  private connectionUncredited = 0;
  private dataFrameBytes = 0;
  private dataFramePieces = 0;
  private headerBlock: HeaderBlock | undefined;
  private socketCongested = false;
  private socketError: Error | undefined;
  private pumping = false;
  private goingAway = false;
  private closing = false;
  private isDestroyed = false;

  constructor(private readonly authority: string, private readonly options: Http2ConnectionOptions) {
    super();
    this.reader = new FrameReader(this, options.frameBytesMax);
    const { host, port } = splitAuthority(authority);
    // Reads land in one reused buffer: no allocation per read, and so no garbage to collect
    // for every 64 KiB received. Everything downstream copies what it keeps (see FrameReader).
    const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    this.socket = net.connect({
      host, port, onread: { buffer: readBuffer, callback: (bytes) => this.receive(readBuffer.subarray(0, bytes)) },
    });
    this.socket.setNoDelay(true);
    this.socket.on('drain', () => {
      this.socketCongested = false;
      this.pump();
    });
    this.socket.on('error', (error) => { this.socketError ??= error; });
    this.socket.on('close', () => this.destroy(this.socketError ?? new Error('the connection closed')));
    const preface = [CONNECTION_PREFACE, settingsFrame([
      [Setting.ENABLE_PUSH, 0], [Setting.INITIAL_WINDOW_SIZE, options.windowBytes], [Setting.MAX_FRAME_SIZE, options.frameBytesMax],
    ])];
    if (options.windowBytes > DEFAULT_WINDOW_BYTES) preface.push(windowUpdateFrame(0, options.windowBytes - DEFAULT_WINDOW_BYTES));
    this.socket.write(Buffer.concat(preface));
  }

  /** No new calls: closing, told to go away by the server, or gone. */
  get closed(): boolean {
    return this.closing || this.goingAway || this.isDestroyed;
  }

  get destroyed(): boolean {
    return this.isDestroyed;
  }

  ref(): void {
    this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  /** Opens a stream with `headers` (pseudo-headers `:method` and `:path` among them). */
  request(headers: OutgoingHttpHeaders): Http2ClientStream {
    const list: Array<[string, string]> = [[':scheme', 'http'], [':authority', this.authority]];
    const regular: Array<[string, string]> = [];
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      const values = Array.isArray(value) ? value : [String(value)];
      for (const item of values) (name.startsWith(':') ? list : regular).push([name.toLowerCase(), item]);
    }
    const stream = new Http2ClientStream(this, [...list, ...regular]);
    if (this.isDestroyed || this.closing || this.goingAway) {
      process.nextTick(() => stream.fail(new Error('the connection is closed')));
      return stream;
    }
    this.waiting.push(stream);
    this.startWaiting();
    return stream;
  }

  /** Lets running streams finish, then closes the socket. */
  close(): void {
    this.closing = true;
    this.closeIfIdle();
  }

  /** Closes at once; every open stream fails with `error`. */
  destroy(error: Error = new Error('the connection closed')): void {
    if (this.isDestroyed) return;
    this.isDestroyed = true;
    const streams = [...this.streams.values(), ...this.waiting];
    this.streams.clear();
    this.waiting.length = 0;
    this.sending.clear();
    for (const stream of streams) stream.fail(error);
    this.socket.destroy();
    this.emit('close');
  }

  // ---- StreamOwner ----

  wantsToSend(stream: Http2ClientStream): void {
    if (stream.id === 0 || this.isDestroyed) return;
    this.sending.add(stream);
    this.pump();
  }

  consumed(stream: Http2ClientStream, bytes: number): void {
    if (!this.streams.has(stream.id)) return;
    const total = (this.uncredited.get(stream.id) ?? 0) + bytes;
    if (total >= this.options.windowBytes / 2) {
      this.uncredited.set(stream.id, 0);
      this.write(windowUpdateFrame(stream.id, total));
    } else this.uncredited.set(stream.id, total);
  }

  resetStream(stream: Http2ClientStream, code: number): void {
    if (stream.id !== 0 && this.streams.has(stream.id) && !this.isDestroyed) this.write(rstStreamFrame(stream.id, code));
  }

  streamClosed(stream: Http2ClientStream): void {
    this.streams.delete(stream.id);
    this.uncredited.delete(stream.id);
    this.sending.delete(stream);
    const index = this.waiting.indexOf(stream);
    if (index >= 0) this.waiting.splice(index, 1);
    this.startWaiting();
    this.closeIfIdle();
  }

  // ---- FrameHandler ----

  dataStart(streamId: number, frameBytes: number): void {
    if (streamId === 0) throw new Http2ProtocolError(Http2ErrorCode.PROTOCOL_ERROR, 'DATA frame on stream 0');
    this.dataFrameBytes = frameBytes;
    this.dataFramePieces = 0;
    this.connectionUncredited += frameBytes;
    if (this.connectionUncredited >= this.options.windowBytes / 2) {
      this.write(windowUpdateFrame(0, this.connectionUncredited));
      this.connectionUncredited = 0;
    }
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
        this.headerBlock = { streamId, endStream: (flags & FrameFlag.END_STREAM) !== 0, fragments: [] };
        this.continueHeaders(type, flags, streamId, payload);
        break;
      case FrameType.CONTINUATION:
        if (!this.headerBlock || this.headerBlock.streamId !== streamId) {
          throw new Http2ProtocolError(Http2ErrorCode.PROTOCOL_ERROR, 'unexpected CONTINUATION frame');
        }
        this.continueHeaders(type, flags, streamId, payload);
        break;
      case FrameType.SETTINGS: this.receiveSettings(flags, payload); break;
      case FrameType.PING:
        if (payload.length !== 8) throw new Http2ProtocolError(Http2ErrorCode.FRAME_SIZE_ERROR, 'PING payload is not 8 bytes');
        if (!(flags & FrameFlag.ACK)) this.write(frame(FrameType.PING, FrameFlag.ACK, 0, payload));
        break;
      case FrameType.WINDOW_UPDATE: this.receiveWindowUpdate(streamId, payload); break;
      case FrameType.RST_STREAM: {
        if (payload.length !== 4) throw new Http2ProtocolError(Http2ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM payload is not 4 bytes');
        const stream = this.streams.get(streamId);
        this.streams.delete(streamId);
        stream?.receiveReset(payload.readUInt32BE(0));
        break;
      }
      case FrameType.GOAWAY: this.receiveGoAway(payload); break;
      case FrameType.PUSH_PROMISE:
        throw new Http2ProtocolError(Http2ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE although push is disabled');
      default: break; // PRIORITY and unknown frame types are ignored
    }
  }

  // ---- internals ----

  private receive(chunk: Buffer): boolean {
    if (this.isDestroyed) return false;
    try {
      this.reader.push(chunk);
    } catch (error) {
      this.protocolFailure(error);
    }
    return true;
  }

  private protocolFailure(error: unknown): void {
    const code = error instanceof Http2ProtocolError ? error.code
      : error instanceof HpackError ? Http2ErrorCode.COMPRESSION_ERROR : Http2ErrorCode.INTERNAL_ERROR;
    if (!this.isDestroyed) this.socket.write(goAwayFrame(0, code));
    this.destroy(new Error(`HTTP/2 protocol error from ${this.authority}: ${(error as Error).message}`));
  }

  private continueHeaders(type: number, flags: number, streamId: number, payload: Buffer): void {
    const block = this.headerBlock!;
    block.fragments.push(headerBlockFragment(type, flags, payload));
    if (!(flags & FrameFlag.END_HEADERS)) return;
    this.headerBlock = undefined;
    // Every block is decoded, even for a stream we reset: the HPACK table is the connection's.
    const headers = incomingHeaders(this.decoder.decode(Buffer.concat(block.fragments)));
    this.streams.get(streamId)?.receiveHeaders(headers, block.endStream);
  }

  private receiveSettings(flags: number, payload: Buffer): void {
    if (flags & FrameFlag.ACK) return;
    if (payload.length % 6 !== 0) throw new Http2ProtocolError(Http2ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS payload not a multiple of 6');
    for (let offset = 0; offset < payload.length; offset += 6) {
      const id = payload.readUInt16BE(offset);
      const value = payload.readUInt32BE(offset + 2);
      if (id === Setting.INITIAL_WINDOW_SIZE) {
        if (value > WINDOW_BYTES_LIMIT) throw new Http2ProtocolError(Http2ErrorCode.FLOW_CONTROL_ERROR, 'initial window above 2^31-1');
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const stream of this.streams.values()) stream.sendWindow += delta;
      } else if (id === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_FRAME_BYTES_MAX || value > 16_777_215) {
          throw new Http2ProtocolError(Http2ErrorCode.PROTOCOL_ERROR, `bad MAX_FRAME_SIZE ${value}`);
        }
        this.peerFrameBytesMax = value;
      } else if (id === Setting.MAX_CONCURRENT_STREAMS) {
        this.peerStreamsMax = value;
      }
    }
    this.write(frame(FrameType.SETTINGS, FrameFlag.ACK, 0));
    this.startWaiting();
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

  private receiveGoAway(payload: Buffer): void {
    if (payload.length < 8) throw new Http2ProtocolError(Http2ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY payload shorter than 8 bytes');
    const lastStreamId = payload.readUInt32BE(0) & 0x7fffffff;
    const code = payload.readUInt32BE(4);
    this.goingAway = true;
    const refused = new Error(`the server closed the connection (GOAWAY, HTTP/2 error code ${code})`);
    for (const stream of [...this.streams.values()]) if (stream.id > lastStreamId) stream.fail(refused);
    for (const stream of [...this.waiting]) stream.fail(refused);
    this.closeIfIdle();
  }

  /** Sends HEADERS for waiting streams while the server's stream limit allows. */
  private startWaiting(): void {
    while (this.waiting.length > 0 && !this.goingAway && !this.isDestroyed && this.streams.size < this.peerStreamsMax) {
      const stream = this.waiting.shift()!;
      if (stream.closed) continue;
      if (this.nextStreamId > STREAM_ID_MAX) {
        this.goingAway = true; // a new connection takes further calls
        stream.fail(new Error('stream ids of the connection are used up'));
        continue;
      }
      stream.id = this.nextStreamId;
      this.nextStreamId += 2;
      stream.sendWindow = this.peerInitialWindow;
      this.streams.set(stream.id, stream);
      this.sendHeaders(stream);
      if (stream.hasOutput) this.sending.add(stream);
    }
    this.pump();
  }

  private sendHeaders(stream: Http2ClientStream): void {
    const block = encodeHeaders(stream.headerList);
    let offset = 0;
    do {
      const length = Math.min(block.length - offset, this.peerFrameBytesMax);
      const last = offset + length === block.length;
      const type = offset === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
      this.write(frame(type, last ? FrameFlag.END_HEADERS : 0, stream.id, block.subarray(offset, offset + length)));
      offset += length;
    } while (offset < block.length);
  }

  /** Sends queued output as DATA frames, one frame per stream in turn, while windows and the socket allow. */
  private pump(): void {
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

  /** One DATA frame of `stream`'s output (or its END_STREAM); false when nothing could be sent. */
  private sendFrame(stream: Http2ClientStream): boolean {
    if (stream.queuedOutputBytes > 0) {
      const budget = Math.min(this.connectionSendWindow, stream.sendWindow, this.peerFrameBytesMax);
      if (budget <= 0) return false;
      const pieces = stream.takeOutput(budget);
      let length = 0;
      for (const piece of pieces) length += piece.length;
      const end = stream.endIsDue;
      this.write(frameHeader(length, FrameType.DATA, end ? FrameFlag.END_STREAM : 0, stream.id));
      for (const piece of pieces) this.write(piece);
      this.connectionSendWindow -= length;
      stream.sendWindow -= length;
      stream.outputDrained();
      if (end) stream.localEndSent();
      return true;
    }
    if (!stream.endIsDue) return false;
    this.write(frameHeader(0, FrameType.DATA, FrameFlag.END_STREAM, stream.id));
    stream.localEndSent();
    return true;
  }

  private write(bytes: Uint8Array): void {
    if (this.isDestroyed) return;
    this.socket.write(bytes);
    if (this.socket.writableLength > SOCKET_QUEUED_BYTES_MAX) this.socketCongested = true;
  }

  private closeIfIdle(): void {
    if ((this.closing || this.goingAway) && this.streams.size === 0 && this.waiting.length === 0 && !this.isDestroyed) {
      this.isDestroyed = true;
      this.sending.clear();
      this.socket.end(() => this.socket.destroy()); // what is queued (a last RST_STREAM) still goes out
      this.emit('close');
    }
  }
}
