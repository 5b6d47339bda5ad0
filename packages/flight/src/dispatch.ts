/**
 * Transport-neutral call handling: the method table, handler invocation, status mapping and
 * call outcomes. Both transports (grpc-js and node:http2) use it, so handlers behave the same
 * whichever carries the bytes.
 */
import { FlightError, GrpcStatus } from './errors.ts';
import { decodeFlightData, encodeFlightData } from './codec/flight-data.ts';
import {
  codecs, type Action, type ActionType, type Criteria, type FlightData, type FlightDescriptor,
  type FlightInfo, type FlightResult, type HandshakeRequest, type HandshakeResponse, type MessageCodec,
  type PollInfo, type PutResult, type SchemaResult, type Ticket,
} from './protocol.ts';

/** What a handler knows about the call it serves. */
export interface CallContext {
  /** RPC name, e.g. `DoPut`. */
  readonly method: FlightMethod;
  /** Request headers, lower-case names; pseudo-headers and binary (-bin) headers are left out. */
  readonly headers: Readonly<Record<string, string>>;
  readonly peer: string;
  /** Aborted when the client cancels, the deadline passes or the call ends early. */
  readonly signal: AbortSignal;
  /**
   * DoPut and DoExchange on transports that assemble messages themselves: sets (or, with
   * undefined, clears) a watcher that sees each request message as it arrives, before the
   * handler receives it. Absent on other transports.
   */
  readonly watchRequests?: (watcher: FlightDataWatcher | undefined) => void;
}

/**
 * Sees request messages as they arrive (CallContext.watchRequests). Every message reaches
 * exactly one of the two calls, in order. Runs inside the transport's read path: keep it short,
 * and throwing only stops the watching.
 */
export interface FlightDataWatcher {
  /**
   * A message whose body is still arriving: its other fields (`head`, dataBody empty) and the
   * memory the body lands in, which the complete message's dataBody views. Returns a callback
   * told how many body bytes have landed so far, or undefined to not follow this body.
   */
  bodyStarted(head: FlightData, body: Uint8Array): ((landed: number) => void) | undefined;
  /** Any other message, complete, before the handler sees it. */
  messageArrived(message: FlightData): void;
  /**
   * Whether the body of a message (`bodyBytes` long, at most the message size) should land in a
   * SharedArrayBuffer, so that another thread can read it while it arrives. Asked before
   * bodyStarted, when the body's place is chosen.
   */
  sharedBody?(bodyBytes: number): boolean;
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
  /** FlightData bytes received (IPC header + body + app_metadata of each message): DoPut, DoExchange. */
  bytesReceived: number;
  /** FlightData bytes sent, counted once the transport took them: DoGet, DoExchange. */
  bytesSent: number;
}

/** A status to send: code, message, and the application error code trailer when known. */
export interface CallStatus {
  code: GrpcStatus;
  details: string;
  errorCode?: string;
}

export interface DispatchOptions {
  /** Runs before every handler; throw a FlightError to refuse the call (e.g. auth). */
  beforeCall?(context: CallContext): void | Promise<void>;
  /** Every error that is not a FlightError (reported to the peer as INTERNAL). */
  onError?(error: unknown, context: CallContext): void;
  /** After every call, with its final status. */
  onCallEnd?(outcome: CallOutcome): void;
}

export const SERVICE_PATH = '/arrow.flight.protocol.FlightService';

export interface MethodShape {
  name: FlightMethod;
  requestStream: boolean;
  responseStream: boolean;
  request: MessageCodec<unknown>;
  response: MessageCodec<unknown>;
}

export const flightDataCodec: MessageCodec<FlightData> = { encode: encodeFlightData, decode: decodeFlightData };

export const METHODS: readonly MethodShape[] = [
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

const methodsByPath = new Map(METHODS.map((method) => [`${SERVICE_PATH}/${method.name}`, method]));

export function methodForPath(path: string): MethodShape | undefined {
  return methodsByPath.get(path);
}

function unimplemented(method: FlightMethod): FlightError {
  return new FlightError(GrpcStatus.UNIMPLEMENTED, `${method} is not implemented by this server`, 'UNIMPLEMENTED');
}

async function* once<T>(value: Promise<T>): AsyncGenerator<T> {
  yield await value;
}

type AnyHandler = (input: unknown, context: CallContext) => AsyncIterable<unknown> | Promise<unknown>;

interface ByteCounts { received: number; sent: number }

/** Payload bytes of one FlightData message: what the application sent, without protobuf framing. */
function flightDataBytes(data: FlightData): number {
  return data.dataHeader.byteLength + data.dataBody.byteLength + data.appMetadata.byteLength;
}

async function* countReceived(messages: AsyncIterable<FlightData>, counts: ByteCounts): AsyncGenerator<FlightData> {
  for await (const message of messages) {
    counts.received += flightDataBytes(message);
    yield message;
  }
}

export class CallDispatcher {
  private readonly byteCounts = new WeakMap<CallContext, ByteCounts>();

  constructor(private readonly handlers: FlightHandlers, private readonly options: DispatchOptions) {}

  private handlerFor(method: FlightMethod): AnyHandler | undefined {
    const h = this.handlers;
    const table: Record<FlightMethod, AnyHandler | undefined> = {
      Handshake: h.handshake?.bind(h) as AnyHandler | undefined,
      ListFlights: h.listFlights?.bind(h) as AnyHandler | undefined,
      GetFlightInfo: h.getFlightInfo?.bind(h) as AnyHandler | undefined,
      PollFlightInfo: h.pollFlightInfo?.bind(h) as AnyHandler | undefined,
      GetSchema: h.getSchema?.bind(h) as AnyHandler | undefined,
      DoGet: h.doGet?.bind(h) as AnyHandler | undefined,
      DoPut: h.doPut?.bind(h) as AnyHandler | undefined,
      DoExchange: h.doExchange?.bind(h) as AnyHandler | undefined,
      DoAction: h.doAction?.bind(h) as AnyHandler | undefined,
      ListActions: h.listActions ? ((_: unknown, context: CallContext) => h.listActions!(context)) : undefined,
    };
    return table[method];
  }

  /**
   * The responses of a call, as one async iterable whatever the method's shape (a unary call
   * yields once). Refusals from beforeCall and missing handlers surface as the first error.
   */
  async *responses(shape: MethodShape, input: unknown, context: CallContext): AsyncGenerator<unknown> {
    await this.options.beforeCall?.(context);
    const handler = this.handlerFor(shape.name);
    if (!handler) throw unimplemented(shape.name);
    const counts: ByteCounts = { received: 0, sent: 0 };
    this.byteCounts.set(context, counts);
    const counted = shape.request === flightDataCodec && shape.requestStream
      ? countReceived(input as AsyncIterable<FlightData>, counts) : input;
    const result = handler(counted, context);
    const responses = shape.responseStream ? result as AsyncIterable<unknown> : once(result as Promise<unknown>);
    if (shape.response !== flightDataCodec) {
      yield* responses;
      return;
    }
    for await (const response of responses as AsyncIterable<FlightData>) {
      yield response;
      // Resumed once the transport has written the message (a cancelled call never resumes).
      counts.sent += flightDataBytes(response);
    }
  }

  /** Maps any thrown value to a status the peer may see; unexpected errors go to onError. */
  toStatus(error: unknown, context: CallContext): CallStatus {
    if (error instanceof FlightError) return { code: error.code, details: error.message, errorCode: error.errorCode };
    this.options.onError?.(error, context);
    return { code: GrpcStatus.INTERNAL, details: 'internal error', errorCode: 'INTERNAL' };
  }

  finish(context: CallContext, startNs: bigint, code: GrpcStatus): void {
    const durationSeconds = Number(process.hrtime.bigint() - startNs) / 1e9;
    const counts = this.byteCounts.get(context);
    this.byteCounts.delete(context);
    this.options.onCallEnd?.({
      method: context.method, code, durationSeconds, peer: context.peer,
      bytesReceived: counts?.received ?? 0, bytesSent: counts?.sent ?? 0,
    });
  }
}
