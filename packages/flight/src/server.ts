/**
 * A Flight server on @grpc/grpc-js. Handlers are plain async functions and async generators;
 * the server owns everything gRPC: serialization, backpressure, cancellation, status codes.
 *
 * - Server-streaming and bidi responses wait for 'drain' when grpc-js buffers are full.
 * - A cancelled call aborts `context.signal`; generators are closed (finally blocks run).
 * - A FlightError reaches the peer as its status; anything else becomes INTERNAL with a
 *   generic message, and the original error goes to `onError` (the caller's logger).
 */
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { FlightError, GrpcStatus } from './errors.ts';
import { decodeFlightData, encodeFlightData } from './codec/flight-data.ts';
import {
  codecs, type Action, type ActionType, type Criteria, type Empty, type FlightData, type FlightDescriptor,
  type FlightInfo, type FlightResult, type HandshakeRequest, type HandshakeResponse, type MessageCodec,
  type PollInfo, type PutResult, type SchemaResult, type Ticket,
} from './protocol.ts';

/** What a handler knows about the call it serves. */
export interface CallContext {
  /** RPC name, e.g. `DoPut`. */
  readonly method: FlightMethod;
  /** Request headers, lower-case names; binary (-bin) headers are left out. */
  readonly headers: Readonly<Record<string, string>>;
  readonly peer: string;
  /** Aborted when the client cancels or the call ends early. */
  readonly signal: AbortSignal;
}

export interface FlightHandlers {
  handshake?(requests: AsyncIterable<HandshakeRequest>, context: CallContext): AsyncIterable<HandshakeResponse>;
  listFlights?(criteria: Criteria, context: CallContext): AsyncIterable<FlightInfo>;
  getFlightInfo?(descriptor: FlightDescriptor, context: CallContext): Promise<FlightInfo>;
  pollFlightInfo?(descriptor: FlightDescriptor, context: CallContext): Promise<PollInfo>;
  getSchema?(descriptor: FlightDescriptor, context: CallContext): Promise<SchemaResult>;
  doGet?(ticket: Ticket, context: CallContext): AsyncIterable<FlightData>;
  doPut?(messages: AsyncIterable<FlightData>, context: CallContext): AsyncIterable<PutResult>;
  doExchange?(messages: AsyncIterable<FlightData>, context: CallContext): AsyncIterable<FlightData>;
  doAction?(action: Action, context: CallContext): AsyncIterable<FlightResult>;
  listActions?(context: CallContext): AsyncIterable<ActionType>;
}

export type FlightMethod =
  | 'Handshake' | 'ListFlights' | 'GetFlightInfo' | 'PollFlightInfo' | 'GetSchema'
  | 'DoGet' | 'DoPut' | 'DoExchange' | 'DoAction' | 'ListActions';

/** Outcome of one call, for metrics and logs. */
export interface CallOutcome {
  method: FlightMethod;
  code: GrpcStatus;
  durationSeconds: number;
  peer: string;
}

export interface FlightServerOptions {
  /** Runs before every handler; throw a FlightError to refuse the call (e.g. auth). */
  beforeCall?(context: CallContext): void | Promise<void>;
  /** Every error that is not a FlightError (reported to the peer as INTERNAL). */
  onError?(error: unknown, context: CallContext): void;
  /** After every call, with its final status. */
  onCallEnd?(outcome: CallOutcome): void;
  /** Largest message accepted or sent, in bytes; -1 for no limit (default). */
  messageBytesMax?: number;
  /** HTTP/2 flow-control window per stream and per session, in bytes (default 32 MiB). */
  flowControlWindowBytes?: number;
}

const DEFAULT_FLOW_CONTROL_WINDOW_BYTES = 32 * 1024 * 1024;
/** Largest HTTP/2 frame the server accepts; the protocol allows up to 16 MiB - 1. */
const HTTP2_FRAME_BYTES_MAX = 1024 * 1024;
const SERVICE_PATH = '/arrow.flight.protocol.FlightService';

interface MethodShape {
  name: FlightMethod;
  requestStream: boolean;
  responseStream: boolean;
  request: MessageCodec<unknown>;
  response: MessageCodec<unknown>;
}

const flightDataCodec: MessageCodec<FlightData> = { encode: encodeFlightData, decode: decodeFlightData };

const METHODS: MethodShape[] = [
  { name: 'Handshake', requestStream: true, responseStream: true, request: codecs.HandshakeRequest, response: codecs.HandshakeResponse },
  { name: 'ListFlights', requestStream: false, responseStream: true, request: codecs.Criteria, response: codecs.FlightInfo },
  { name: 'GetFlightInfo', requestStream: false, responseStream: false, request: codecs.FlightDescriptor, response: codecs.FlightInfo },
  { name: 'PollFlightInfo', requestStream: false, responseStream: false, request: codecs.FlightDescriptor, response: codecs.PollInfo },
  { name: 'GetSchema', requestStream: false, responseStream: false, request: codecs.FlightDescriptor, response: codecs.SchemaResult },
  { name: 'DoGet', requestStream: false, responseStream: true, request: codecs.Ticket, response: flightDataCodec },
  { name: 'DoPut', requestStream: true, responseStream: true, request: flightDataCodec, response: codecs.PutResult },
  { name: 'DoExchange', requestStream: true, responseStream: true, request: flightDataCodec, response: flightDataCodec },
  { name: 'DoAction', requestStream: false, responseStream: true, request: codecs.Action, response: codecs.Result },
  { name: 'ListActions', requestStream: false, responseStream: true, request: codecs.Empty, response: codecs.ActionType },
] as MethodShape[];

/** The FlightService definition for grpc-js, with our own (de)serializers. */
export function flightServiceDefinition(): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of METHODS) {
    definition[method.name] = {
      path: `${SERVICE_PATH}/${method.name}`,
      requestStream: method.requestStream,
      responseStream: method.responseStream,
      requestSerialize: (value: unknown) => method.request.encode(value),
      requestDeserialize: (bytes: Buffer) => method.request.decode(bytes),
      responseSerialize: (value: unknown) => method.response.encode(value),
      responseDeserialize: (bytes: Buffer) => method.response.decode(bytes),
      originalName: method.name,
    };
  }
  return definition as grpc.ServiceDefinition;
}

/** The parts of a grpc-js server call that this file uses, whatever the call's shape. */
interface AnyCall {
  readonly metadata: grpc.Metadata;
  getPeer(): string;
  on(event: 'cancelled', listener: () => void): unknown;
}

interface WritableCall<Res> extends NodeJS.EventEmitter {
  write(message: Res): boolean;
  end(): void;
}

function headersOf(metadata: grpc.Metadata): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata.getMap())) {
    if (typeof value === 'string') headers[key.toLowerCase()] = value;
  }
  return headers;
}

export class FlightServer {
  private readonly grpcServer: grpc.Server;
  private readonly options: FlightServerOptions;
  private readonly windowBytes: number;

  constructor(handlers: FlightHandlers, options: FlightServerOptions = {}) {
    this.options = options;
    const messageBytesMax = options.messageBytesMax ?? -1;
    this.windowBytes = options.flowControlWindowBytes ?? DEFAULT_FLOW_CONTROL_WINDOW_BYTES;
    this.grpcServer = new grpc.Server({
      'grpc.max_receive_message_length': messageBytesMax,
      'grpc.max_send_message_length': messageBytesMax,
    });
    raiseStreamWindow(this.grpcServer, this.windowBytes);
    this.grpcServer.addService(flightServiceDefinition(), this.implementation(handlers));
  }

  /** Binds `host:port` (port 0 picks a free port); resolves to the bound port. */
  async listen(address: string): Promise<number> {
    const port = await new Promise<number>((resolve, reject) => {
      this.grpcServer.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, boundPort) => {
        if (error) reject(error);
        else resolve(boundPort);
      });
    });
    raiseSessionWindows(this.grpcServer, this.windowBytes);
    return port;
  }

  /** Stops accepting calls and waits for running calls, up to `graceMs`, then cancels them. */
  async shutdown(graceMs = 10_000): Promise<void> {
    const graceful = new Promise<void>((resolve) => this.grpcServer.tryShutdown(() => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); });
    await Promise.race([graceful, deadline]);
    clearTimeout(timer);
    this.grpcServer.forceShutdown();
  }

  private implementation(handlers: FlightHandlers): grpc.UntypedServiceImplementation {
    const h = handlers;
    return {
      Handshake: this.bidi('Handshake', h.handshake?.bind(h)),
      ListFlights: this.serverStream('ListFlights', h.listFlights?.bind(h)),
      GetFlightInfo: this.unary('GetFlightInfo', h.getFlightInfo?.bind(h)),
      PollFlightInfo: this.unary('PollFlightInfo', h.pollFlightInfo?.bind(h)),
      GetSchema: this.unary('GetSchema', h.getSchema?.bind(h)),
      DoGet: this.serverStream('DoGet', h.doGet?.bind(h)),
      DoPut: this.bidi('DoPut', h.doPut?.bind(h)),
      DoExchange: this.bidi('DoExchange', h.doExchange?.bind(h)),
      DoAction: this.serverStream('DoAction', h.doAction?.bind(h)),
      ListActions: this.serverStream('ListActions', h.listActions ? (_: unknown, c: CallContext) => h.listActions!(c) : undefined),
    };
  }

  private context(method: FlightMethod, call: AnyCall, controller: AbortController): CallContext {
    call.on('cancelled', () => controller.abort());
    return { method, headers: headersOf(call.metadata), peer: call.getPeer(), signal: controller.signal };
  }

  /** Maps any thrown value to a status the peer may see. */
  private toStatus(error: unknown, context: CallContext): Partial<grpc.StatusObject> {
    if (error instanceof FlightError) return error.toStatus();
    this.options.onError?.(error, context);
    return new FlightError(GrpcStatus.INTERNAL, 'internal error', 'INTERNAL').toStatus();
  }

  private finish(context: CallContext, startNs: bigint, code: GrpcStatus): void {
    const durationSeconds = Number(process.hrtime.bigint() - startNs) / 1e9;
    this.options.onCallEnd?.({ method: context.method, code, durationSeconds, peer: context.peer });
  }

  private unary<Req, Res>(method: FlightMethod, handler?: (request: Req, context: CallContext) => Promise<Res>) {
    return (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => {
      const startNs = process.hrtime.bigint();
      const context = this.context(method, call, new AbortController());
      const run = async () => {
        await this.options.beforeCall?.(context);
        if (!handler) throw unimplemented(method);
        return handler(call.request, context);
      };
      run().then(
        (response) => { this.finish(context, startNs, GrpcStatus.OK); callback(null, response); },
        (error: unknown) => {
          const status = this.toStatus(error, context);
          this.finish(context, startNs, status.code ?? GrpcStatus.UNKNOWN);
          callback(status, null);
        },
      );
    };
  }

  private serverStream<Req, Res>(method: FlightMethod, handler?: (request: Req, context: CallContext) => AsyncIterable<Res>) {
    return (call: grpc.ServerWritableStream<Req, Res>) => {
      const startNs = process.hrtime.bigint();
      const controller = new AbortController();
      const context = this.context(method, call, controller);
      const run = async () => {
        await this.options.beforeCall?.(context);
        if (!handler) throw unimplemented(method);
        await writeAll(call as WritableCall<Res>, handler(call.request, context), controller.signal);
      };
      this.settleStream(call as WritableCall<unknown>, context, startNs, run());
    };
  }

  private bidi<Req, Res>(method: FlightMethod, handler?: (requests: AsyncIterable<Req>, context: CallContext) => AsyncIterable<Res>) {
    return (call: grpc.ServerDuplexStream<Req, Res>) => {
      const startNs = process.hrtime.bigint();
      const controller = new AbortController();
      const context = this.context(method, call, controller);
      const run = async () => {
        await this.options.beforeCall?.(context);
        if (!handler) throw unimplemented(method);
        await writeAll(call as WritableCall<Res>, handler(readAll<Req>(call, controller.signal), context), controller.signal);
      };
      this.settleStream(call as WritableCall<unknown>, context, startNs, run());
    };
  }

  private settleStream(call: WritableCall<unknown>, context: CallContext, startNs: bigint, done: Promise<void>): void {
    done.then(
      () => { this.finish(context, startNs, context.signal.aborted ? GrpcStatus.CANCELLED : GrpcStatus.OK); call.end(); },
      (error: unknown) => {
        if (context.signal.aborted) {
          this.finish(context, startNs, GrpcStatus.CANCELLED);
          return;
        }
        const status = this.toStatus(error, context);
        this.finish(context, startNs, status.code ?? GrpcStatus.UNKNOWN);
        call.emit('error', status);
      },
    );
  }
}

function unimplemented(method: FlightMethod): FlightError {
  return new FlightError(GrpcStatus.UNIMPLEMENTED, `${method} is not implemented by this server`, 'UNIMPLEMENTED');
}

/** Writes every item, waiting for 'drain' when grpc-js reports a full buffer. */
async function writeAll<Res>(call: WritableCall<Res>, items: AsyncIterable<Res>, signal: AbortSignal): Promise<void> {
  for await (const item of items) {
    if (signal.aborted) return;
    if (!call.write(item)) {
      await Promise.race([once(call, 'drain'), once(signal, 'abort')]);
    }
  }
}

/** The request stream as an async iterable that ends when the call is cancelled. */
async function* readAll<Req>(call: grpc.ServerDuplexStream<Req, unknown>, signal: AbortSignal): AsyncGenerator<Req> {
  // destroyOnReturn: false, or the iterator destroys the whole duplex (response side included)
  // once the request side ends, and the final status never reaches the peer.
  const requests = call.iterator({ destroyOnReturn: false }) as AsyncIterable<Req>;
  for await (const message of requests) {
    if (signal.aborted) return;
    yield message;
  }
}

/**
 * grpc-js keeps Node's 64 KiB HTTP/2 window, which caps large uploads at a few hundred MB/s.
 * It exposes no option for the server side, so the window is raised in two places:
 * the per-stream initial window (HTTP/2 SETTINGS) and each session's connection window.
 */
function raiseStreamWindow(server: grpc.Server, windowBytes: number): void {
  const internals = server as unknown as { commonServerOptions?: { settings?: Record<string, unknown> } };
  if (!internals.commonServerOptions) return;
  internals.commonServerOptions.settings = {
    ...internals.commonServerOptions.settings,
    initialWindowSize: windowBytes,
    // Larger DATA frames mean fewer 'data' events per message (16 KiB is the HTTP/2 default).
    maxFrameSize: HTTP2_FRAME_BYTES_MAX,
  };
}

function raiseSessionWindows(server: grpc.Server, windowBytes: number): void {
  const internals = server as unknown as { http2Servers?: Map<import('node:http2').Http2Server, unknown> };
  for (const http2Server of internals.http2Servers?.keys() ?? []) {
    if ((http2Server as unknown as { longbowWindowHooked?: boolean }).longbowWindowHooked) continue;
    (http2Server as unknown as { longbowWindowHooked?: boolean }).longbowWindowHooked = true;
    http2Server.on('session', (session) => {
      try { session.setLocalWindowSize(windowBytes); } catch { /* session already closing */ }
    });
  }
}
