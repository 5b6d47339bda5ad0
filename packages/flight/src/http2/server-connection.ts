/**
 * The server side of our HTTP/2 connection (connection.ts): prior-knowledge cleartext, the
 * way gRPC clients (pyarrow's among them) connect to `grpc://`. Each client-opened stream is
 * announced as 'stream' (stream, headers), like node:http2's server does. Streams beyond
 * MAX_CONCURRENT_STREAMS are refused (REFUSED_STREAM); close() sends GOAWAY and ends the
 * connection once its streams are done.
 */
import { once } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http2';
import net from 'node:net';
import { Http2Connection, type Http2ConnectionOptions } from './connection.ts';
import { CONNECTION_PREFACE, Http2ErrorCode, Http2ProtocolError, Setting, goAwayFrame, rstStreamFrame } from './frames.ts';
import { READ_BUFFER_BYTES, READ_TURN_BYTES_MAX } from './http2-limits.ts';
import { ServerStream } from './server-stream.ts';

export interface ServerConnectionOptions extends Http2ConnectionOptions {
  /** Streams a client may have open at once. */
  streamsMax: number;
}

export class ServerConnection extends Http2Connection<ServerStream> {
  private prefaceMatched = 0;
  private lastStreamId = 0;

  /**
   * `reads`: how received bytes arrive: `events` as the socket's 'data' events, or `callback`,
   * when the socket was made with an `onread` callback that calls receiveBytes().
   */
  constructor(socket: net.Socket, private readonly serverOptions: ServerConnectionOptions, reads: 'events' | 'callback' = 'events') {
    super(socket, serverOptions);
    if (reads === 'events') socket.on('data', (chunk: Buffer) => this.receiveBytes(chunk));
    socket.resume();
    this.write(Buffer.concat(this.openingFrames([
      [Setting.MAX_CONCURRENT_STREAMS, serverOptions.streamsMax], [Setting.INITIAL_WINDOW_SIZE, serverOptions.windowBytes],
      [Setting.MAX_FRAME_SIZE, serverOptions.frameBytesMax],
    ])));
  }

  /** The client's address. */
  get remoteSocket(): net.Socket {
    return this.socket;
  }

  /** Refuses new streams (GOAWAY), lets open ones finish, then closes. */
  close(): void {
    if (this.closing || this.isDestroyed) return;
    this.closing = true;
    this.write(goAwayFrame(this.lastStreamId, Http2ErrorCode.NO_ERROR));
    this.afterStreamClosed();
  }

  protected override lastPeerStreamId(): number {
    return this.lastStreamId;
  }

  /** A read into the read buffer or straight into a message (see Http2Connection.nextReadBuffer). */
  override readInto(bytes: number, buffer: Uint8Array, readBuffer: Buffer): void {
    if (this.prefaceMatched < CONNECTION_PREFACE.length) this.receiveBytes(readBuffer.subarray(0, bytes));
    else super.readInto(bytes, buffer, readBuffer);
  }

  /** Bytes from the socket: checks the client preface, then feeds frames. */
  receiveBytes(chunk: Buffer): void {
    let bytes = chunk;
    if (this.prefaceMatched < CONNECTION_PREFACE.length) {
      const take = Math.min(CONNECTION_PREFACE.length - this.prefaceMatched, bytes.length);
      if (!bytes.subarray(0, take).equals(CONNECTION_PREFACE.subarray(this.prefaceMatched, this.prefaceMatched + take))) {
        this.destroy(new Error('not an HTTP/2 client (bad connection preface)'));
        return;
      }
      this.prefaceMatched += take;
      bytes = bytes.subarray(take);
    }
    if (bytes.length > 0) this.receive(bytes);
  }

  protected receiveHeaderBlock(streamId: number, headers: IncomingHttpHeaders, endStream: boolean): void {
    const existing = this.streams.get(streamId);
    if (existing) {
      existing.receiveHeaders(headers, endStream);
      return;
    }
    if (streamId % 2 === 0) throw new Http2ProtocolError(Http2ErrorCode.PROTOCOL_ERROR, `client opened even stream ${streamId}`);
    if (streamId <= this.lastStreamId) return; // trailers of a stream already closed here
    this.lastStreamId = streamId;
    if (this.closing || this.goingAway || this.streams.size >= this.serverOptions.streamsMax) {
      this.writeAnswer(rstStreamFrame(streamId, Http2ErrorCode.REFUSED_STREAM));
      return;
    }
    const stream = new ServerStream(this, this.options.streamQueuedBytesHigh, { socket: this.socket });
    stream.id = streamId;
    this.openStream(stream);
    if (endStream) stream.receiveEnd(); // held until a reader comes: the stream starts paused
    this.emit('stream', stream, headers);
  }

  protected receiveGoAway(): void {
    this.goingAway = true;
    this.afterStreamClosed();
  }

  protected afterStreamClosed(): void {
    if ((this.closing || this.goingAway) && this.streams.size === 0 && !this.isDestroyed) {
      this.endGracefully();
    }
  }
}

/**
 * Moves an accepted socket's handle into a new Socket that reads into one reused buffer
 * (net's `onread`), or returns undefined where that cannot be done.
 *
 * Why: Node allocates a fresh buffer for every read of an accepted socket (`onread` is offered
 * only for sockets it connects itself). Receiving a 52 MB DoPut that way makes ~800 buffers of
 * garbage, new pages to fault in and a garbage collection every ~20 MB; with one reused buffer
 * the same DoPut ran at ~1.1 GB/s instead of ~0.64 GB/s on the bench machine.
 * How: this relies on two Node internals, the socket's `_handle` and the `handle` option of
 * the Socket constructor (stable since Node 12, used by cluster and child_process). When
 * either is missing, the caller reads the accepted socket the ordinary way.
 */
function withReusedReadBuffer(accepted: net.Socket, readBuffer: Buffer, reads: () => ServerConnection | undefined): net.Socket | undefined {
  const holder = accepted as unknown as { _handle?: object | null };
  const handle = holder._handle;
  if (typeof handle !== 'object' || handle === null) return undefined;
  let socket: net.Socket;
  let readSinceYield = 0;
  const yieldToLoop = () => {
    readSinceYield = 0;
    if (!socket.destroyed) socket.resume();
  };
  try {
    const options = {
      handle, readable: true, writable: true,
      onread: {
        buffer: () => reads()?.nextReadBuffer(readBuffer) ?? readBuffer,
        callback: (bytes: number, buffer: Uint8Array) => {
          reads()?.readInto(bytes, buffer, readBuffer);
          // Yield the event loop after READ_TURN_BYTES_MAX (see http2-limits.ts).
          readSinceYield += bytes;
          if (readSinceYield >= READ_TURN_BYTES_MAX && !socket.isPaused()) {
            socket.pause();
            setImmediate(yieldToLoop);
          }
          return true;
        },
      },
    };
    socket = new net.Socket(options as net.SocketConstructorOpts);
  } catch {
    return undefined;
  }
  holder._handle = null; // the accepted socket lets go of the handle: destroying it closes nothing
  accepted.destroy();
  return socket;
}

/** Accepts TCP connections and runs a ServerConnection on each; 'stream' is re-emitted per stream. */
export class Http2Listener {
  readonly connections = new Set<ServerConnection>();
  private readonly server: net.Server;

  /** `reuseReadBuffer` false reads accepted sockets the ordinary way (tests cover both). */
  constructor(options: ServerConnectionOptions, onStream: (stream: ServerStream, headers: IncomingHttpHeaders) => void,
    onConnection: (connection: ServerConnection) => void = () => undefined, reuseReadBuffer = true) {
    // One read buffer for every connection of the listener: each read is parsed within its
    // callback (what is kept is copied or already lies in a message's own memory), and the
    // callbacks of different sockets never interleave.
    const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    this.server = net.createServer({ pauseOnConnect: true }, (accepted) => {
      const sink: { connection?: ServerConnection } = {};
      const socket = reuseReadBuffer ? withReusedReadBuffer(accepted, readBuffer, () => sink.connection) : undefined;
      const connection = socket ? new ServerConnection(socket, options, 'callback') : new ServerConnection(accepted, options);
      sink.connection = connection;
      this.connections.add(connection);
      connection.on('stream', onStream);
      connection.on('close', () => this.connections.delete(connection));
      onConnection(connection);
    });
    // Accept failures (EMFILE under a connection flood) are emitted as 'error' while listening:
    // without a listener they would throw out of the event loop. The server keeps listening.
    this.server.on('error', () => undefined);
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const bound = this.server.address();
        resolve(typeof bound === 'object' && bound !== null ? bound.port : port);
      });
    });
  }

  /** Stops accepting; resolves once every connection has closed. */
  async close(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // The server counts only the sockets it accepted, and withReusedReadBuffer destroys those
    // at once: wait for the connections themselves too.
    await Promise.all([stopped, ...[...this.connections].map((connection) => once(connection, 'close'))]);
  }
}
