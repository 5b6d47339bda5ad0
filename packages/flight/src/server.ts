/**
 * A Flight server. Handlers are plain async functions and async generators; the server owns
 * everything gRPC: framing, serialization, backpressure, cancellation, deadlines, statuses.
 *
 * - Streaming responses wait for 'drain' when the transport's buffers are full.
 * - A cancelled call aborts `context.signal`; handler generators are closed (finally runs).
 * - A FlightError reaches the peer as its status (its errorCode in the `longbow-error-code`
 *   trailer); anything else becomes INTERNAL with a generic message, and goes to `onError`.
 *
 * Three transports carry the same handlers: `http2` (default: our own HTTP/2 connection,
 * ./http2/), `node-http2` (node:http2) and `grpc-js` (@grpc/grpc-js).
 */
import { CallDispatcher, type DispatchOptions, type FlightHandlers } from './dispatch.ts';
import { GrpcJsTransport } from './transport/grpc-js-server.ts';
import { Http2Transport } from './transport/http2-server.ts';
import type { TransportServer } from './transport/transport.ts';

export type { CallContext, CallOutcome, CallStatus, FlightDataWatcher, FlightHandlers, FlightMethod, DispatchOptions } from './dispatch.ts';
export { flightServiceDefinition } from './transport/grpc-js-server.ts';

export interface FlightServerOptions extends DispatchOptions {
  /** Largest message accepted or sent, in bytes; -1 for no limit (default). */
  messageBytesMax?: number;
  /** HTTP/2 flow-control window per stream and per session, in bytes (default 32 MiB). */
  flowControlWindowBytes?: number;
  /** `http2` (default: our own HTTP/2), `node-http2` or `grpc-js`. */
  transport?: 'http2' | 'node-http2' | 'grpc-js';
}

const DEFAULT_FLOW_CONTROL_WINDOW_BYTES = 32 * 1024 * 1024;
/** Largest HTTP/2 frame accepted: fewer 'data' events per message than the 16 KiB default. */
const HTTP2_FRAME_BYTES_MAX = 1024 * 1024;

export class FlightServer {
  private readonly transport: TransportServer;

  constructor(handlers: FlightHandlers, options: FlightServerOptions = {}) {
    const dispatcher = new CallDispatcher(handlers, options);
    const transportOptions = {
      messageBytesMax: options.messageBytesMax ?? -1,
      flowControlWindowBytes: options.flowControlWindowBytes ?? DEFAULT_FLOW_CONTROL_WINDOW_BYTES,
      frameBytesMax: HTTP2_FRAME_BYTES_MAX,
    };
    this.transport = options.transport === 'grpc-js'
      ? new GrpcJsTransport(dispatcher, transportOptions)
      : new Http2Transport(dispatcher, transportOptions, options.transport === 'node-http2' ? 'node' : 'own');
  }

  /** Binds `host:port` (port 0 picks a free port); resolves to the bound port. Call again for more ports. */
  listen(address: string): Promise<number> {
    return this.transport.listen(address);
  }

  /** Stops accepting calls and waits for running calls, up to `graceMs`, then cancels them. */
  shutdown(graceMs = 10_000): Promise<void> {
    return this.transport.shutdown(graceMs);
  }
}
