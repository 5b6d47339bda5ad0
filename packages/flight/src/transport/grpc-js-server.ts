/**
 * The FlightService on @grpc/grpc-js, with our own (de)serializers. grpc-js copies each
 * received message once more than needed and each sent message once into its frame; the
 * node:http2 transport avoids both, and this one stays as the reference implementation.
 */
import type { Http2Server } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { Metadata } from '@grpc/grpc-js';
import { ERROR_CODE_TRAILER, FlightError, GrpcStatus } from '../errors.ts';
import { METHODS, SERVICE_PATH, type CallContext, type CallDispatcher, type CallStatus, type MethodShape } from '../dispatch.ts';
import type { TransportOptions, TransportServer } from './transport.ts';
import { drained } from './drain.ts';

/**
 * The FlightService definition for grpc-js, with our own (de)serializers. With `rawRequests`
 * (the server side) requests are handed over as bytes and decoded by the transport, because
 * grpc-js turns any exception in a deserializer into INTERNAL.
 */
export function flightServiceDefinition(options: { rawRequests?: boolean } = {}): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of METHODS) {
    definition[method.name] = {
      path: `${SERVICE_PATH}/${method.name}`,
      requestStream: method.requestStream,
      responseStream: method.responseStream,
      requestSerialize: (value: unknown) => method.request.encode(value),
      requestDeserialize: options.rawRequests ? (bytes: Buffer) => bytes : (bytes: Buffer) => method.request.decode(bytes),
      responseSerialize: (value: unknown) => method.response.encode(value),
      responseDeserialize: (bytes: Buffer) => method.response.decode(bytes),
      originalName: method.name,
    };
  }
  return definition as grpc.ServiceDefinition;
}

/** The parts of a grpc-js server call used here, whatever the call's shape. */
interface AnyCall extends NodeJS.EventEmitter {
  readonly metadata: grpc.Metadata;
  readonly request?: unknown;
  getPeer(): string;
  write?(message: unknown): boolean;
  end?(): void;
  iterator?(options: { destroyOnReturn: boolean }): AsyncIterable<unknown>;
}

function headersOf(metadata: grpc.Metadata): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata.getMap())) {
    if (typeof value === 'string') headers[key.toLowerCase()] = value;
  }
  return headers;
}

function grpcStatus(status: CallStatus): Partial<grpc.StatusObject> {
  const metadata = new Metadata();
  if (status.errorCode !== undefined) metadata.set(ERROR_CODE_TRAILER, status.errorCode);
  return { code: status.code, details: status.details, metadata };
}

function decodeRequest(shape: MethodShape, bytes: unknown): unknown {
  try {
    return shape.request.decode(bytes as Buffer);
  } catch (error) {
    if (error instanceof FlightError) throw error;
    throw new FlightError(GrpcStatus.INVALID_ARGUMENT,
      `malformed request: cannot decode ${shape.name} request (${(error as Error).message})`, 'MALFORMED_REQUEST');
  }
}

/** The request stream; destroyOnReturn: false, or the iterator ends the response side too. */
async function* requestsOf(shape: MethodShape, call: AnyCall, signal: AbortSignal): AsyncGenerator<unknown> {
  for await (const message of call.iterator!({ destroyOnReturn: false })) {
    if (signal.aborted) return;
    yield decodeRequest(shape, message);
  }
}

export class GrpcJsTransport implements TransportServer {
  private readonly server: grpc.Server;

  constructor(private readonly dispatcher: CallDispatcher, private readonly options: TransportOptions) {
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': options.messageBytesMax,
      'grpc.max_send_message_length': options.messageBytesMax,
    });
    this.raiseStreamWindow();
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const shape of METHODS) {
      implementation[shape.name] = shape.responseStream
        ? (call: AnyCall) => this.handleStream(shape, call)
        : (call: AnyCall, callback: grpc.sendUnaryData<unknown>) => this.handleUnary(shape, call, callback);
    }
    this.server.addService(flightServiceDefinition({ rawRequests: true }), implementation);
  }

  async listen(address: string): Promise<number> {
    const port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, boundPort) => {
        if (error) reject(error);
        else resolve(boundPort);
      });
    });
    this.raiseSessionWindows();
    return port;
  }

  async shutdown(graceMs: number): Promise<void> {
    const graceful = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); });
    await Promise.race([graceful, deadline]);
    clearTimeout(timer);
    this.server.forceShutdown();
  }

  private context(shape: MethodShape, call: AnyCall): { context: CallContext; controller: AbortController } {
    const controller = new AbortController();
    // grpc-js also emits 'cancelled' after a call's status went out: only a running call aborts.
    call.on('cancelled', () => { if (!(call as { longbowDone?: boolean }).longbowDone) controller.abort(); });
    const context = { method: shape.name, headers: headersOf(call.metadata), peer: call.getPeer(), signal: controller.signal };
    return { context, controller };
  }

  private handleUnary(shape: MethodShape, call: AnyCall, callback: grpc.sendUnaryData<unknown>): void {
    const startNs = process.hrtime.bigint();
    const { context } = this.context(shape, call);
    const run = async () => {
      let response: unknown;
      for await (const item of this.dispatcher.responses(shape, decodeRequest(shape, call.request), context)) response = item;
      return response;
    };
    run().then(
      (response) => {
        (call as { longbowDone?: boolean }).longbowDone = true;
        this.dispatcher.finish(context, startNs, GrpcStatus.OK);
        callback(null, response);
      },
      (error: unknown) => {
        (call as { longbowDone?: boolean }).longbowDone = true;
        const status = this.dispatcher.toStatus(error, context);
        this.dispatcher.finish(context, startNs, status.code);
        callback(grpcStatus(status), null);
      },
    );
  }

  private handleStream(shape: MethodShape, call: AnyCall): void {
    const startNs = process.hrtime.bigint();
    const { context, controller } = this.context(shape, call);
    const run = async () => {
      const input = shape.requestStream ? requestsOf(shape, call, controller.signal) : decodeRequest(shape, call.request);
      for await (const item of this.dispatcher.responses(shape, input, context)) {
        if (controller.signal.aborted) return;
        if (!call.write!(item)) await drained(call, controller.signal);
      }
    };
    run().then(
      () => {
        (call as { longbowDone?: boolean }).longbowDone = true;
        this.dispatcher.finish(context, startNs, controller.signal.aborted ? GrpcStatus.CANCELLED : GrpcStatus.OK);
        call.end!();
      },
      (error: unknown) => {
        if (controller.signal.aborted) {
          this.dispatcher.finish(context, startNs, GrpcStatus.CANCELLED);
          return;
        }
        (call as { longbowDone?: boolean }).longbowDone = true;
        const status = this.dispatcher.toStatus(error, context);
        this.dispatcher.finish(context, startNs, status.code);
        call.emit('error', grpcStatus(status));
      },
    );
  }

  /**
   * grpc-js keeps Node's 64 KiB HTTP/2 window, which caps large uploads at a few hundred MB/s,
   * and has no server option for it: raise the per-stream window (SETTINGS) here and each
   * session's connection window once bound.
   */
  private raiseStreamWindow(): void {
    const internals = this.server as unknown as { commonServerOptions?: { settings?: Record<string, unknown> } };
    if (!internals.commonServerOptions) return;
    internals.commonServerOptions.settings = {
      ...internals.commonServerOptions.settings,
      initialWindowSize: this.options.flowControlWindowBytes,
      maxFrameSize: this.options.frameBytesMax,
    };
  }

  private raiseSessionWindows(): void {
    const internals = this.server as unknown as { http2Servers?: Map<Http2Server, unknown> };
    for (const http2Server of internals.http2Servers?.keys() ?? []) {
      const marked = http2Server as unknown as { longbowWindowRaised?: boolean };
      if (marked.longbowWindowRaised) continue;
      marked.longbowWindowRaised = true;
      http2Server.on('session', (session) => {
        try { session.setLocalWindowSize(this.options.flowControlWindowBytes); } catch { /* session closing */ }
      });
    }
  }
}
