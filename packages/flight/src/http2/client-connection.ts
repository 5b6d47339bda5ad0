/**
 * The client side of our HTTP/2 connection (connection.ts): prior-knowledge cleartext, as
 * gRPC's `grpc://` uses it. Socket reads land in one reused buffer (net's `onread`): no
 * allocation per read, so no garbage for every 64 KiB received; whatever keeps received bytes
 * copies them (FrameReader, streams, GrpcMessageReader with `transientChunks`). Inside a large
 * DATA payload, reads go straight into the message being assembled (nextReadBuffer).
 * Requests beyond the server's MAX_CONCURRENT_STREAMS wait for a stream to end.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import net from 'node:net';
import { Http2Connection, type Http2ConnectionOptions } from './connection.ts';
import { CONNECTION_PREFACE, Setting, splitAddress } from './frames.ts';
import { READ_BUFFER_BYTES, STREAM_ID_MAX } from './http2-limits.ts';
import { ClientStream } from './client-stream.ts';
import { headerList } from './stream.ts';


export type ClientConnectionOptions = Http2ConnectionOptions;

export class ClientConnection extends Http2Connection<ClientStream> {
  private readonly waiting: ClientStream[] = [];
  private nextStreamId = 1;

  constructor(private readonly authority: string, options: ClientConnectionOptions) {
    const { host, port } = splitAddress(authority);
    const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    const self: { connection?: ClientConnection } = {};
    super(net.connect({
      host, port,
      onread: {
        buffer: () => self.connection?.nextReadBuffer(readBuffer) ?? readBuffer,
        callback: (bytes, buffer) => { self.connection?.readInto(bytes, buffer, readBuffer); return true; },
      },
    }), options);
    self.connection = this;
    this.socket.write(Buffer.concat([CONNECTION_PREFACE, ...this.openingFrames([
      [Setting.ENABLE_PUSH, 0], [Setting.INITIAL_WINDOW_SIZE, options.windowBytes], [Setting.MAX_FRAME_SIZE, options.frameBytesMax],
    ])]));
  }

  /** No new calls: closing, told to go away by the server, or gone. */
  get closed(): boolean {
    return this.closing || this.goingAway || this.isDestroyed;
  }

  ref(): void {
    this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  /** Opens a stream with `headers` (pseudo-headers `:method` and `:path` among them). */
  request(headers: OutgoingHttpHeaders): ClientStream {
    const list = headerList(headers, [[':scheme', 'http'], [':authority', this.authority]]);
    const stream = new ClientStream(this, list, this.options.streamQueuedBytesHigh);
    if (this.closed) {
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
    this.afterStreamClosed();
  }

  protected override pendingStreams(): ClientStream[] {
    return this.waiting.splice(0);
  }

  protected receiveHeaderBlock(streamId: number, headers: IncomingHttpHeaders, endStream: boolean): void {
    this.streams.get(streamId)?.receiveHeaders(headers, endStream);
  }

  protected receiveGoAway(lastStreamId: number, code: number): void {
    this.goingAway = true;
    const refused = new Error(`the server closed the connection (GOAWAY, HTTP/2 error code ${code})`);
    for (const stream of [...this.streams.values()]) if (stream.id > lastStreamId) stream.fail(refused);
    for (const stream of this.waiting.splice(0)) stream.fail(refused);
    this.afterStreamClosed();
  }

  protected override afterSettings(): void {
    this.startWaiting();
  }

  protected afterStreamClosed(): void {
    for (let index = this.waiting.length - 1; index >= 0; index--) if (this.waiting[index].closed) this.waiting.splice(index, 1);
    this.startWaiting();
    if ((this.closing || this.goingAway) && this.streams.size === 0 && this.waiting.length === 0 && !this.isDestroyed) {
      this.endGracefully();
    }
  }

  /** Sends HEADERS for waiting requests while the server's stream limit allows. */
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
      this.openStream(stream);
      this.sendHeaderBlock(stream, stream.requestHeaders, false);
      if (stream.hasOutput) this.wantsToSend(stream);
    }
  }
}
