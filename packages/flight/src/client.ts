/**
 * A Flight client for Node on @grpc/grpc-js. Streams are async iterables; writes honour
 * backpressure; every failure is a FlightError carrying the gRPC status code and, when the
 * server sent one, its application error code.
 */
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { RecordBatch, Table, type Schema } from 'apache-arrow';
import { FlightError } from './errors.ts';
import { FlightDataDecoder, decodeEncapsulatedSchema, encodeRecordBatches } from './codec/ipc.ts';
import { flightServiceDefinition } from './server.ts';
import type {
  Action, ActionType, Criteria, FlightData, FlightDescriptor, FlightInfo, FlightResult, HandshakeRequest,
  HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
} from './protocol.ts';

export interface FlightClientOptions {
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /** Extra headers sent on every call. */
  headers?: Record<string, string>;
  /** Largest message accepted or sent, in bytes; -1 for no limit (default). */
  messageBytesMax?: number;
  /** HTTP/2 connection window in bytes (default 32 MiB). */
  flowControlWindowBytes?: number;
}

export interface CallOptions {
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** Deadline in milliseconds from now. */
  timeoutMs?: number;
}

const definition = flightServiceDefinition();

/** `grpc://host:port`, `grpc+tcp://host:port` or `host:port` -> `host:port`. */
export function parseLocation(location: string): string {
  const match = /^(?:grpc(?:\+tcp)?:\/\/)?([^/]+)\/?$/.exec(location);
  if (!match) throw new Error(`unsupported Flight location: ${location} (expected grpc://host:port)`);
  return match[1];
}

export class FlightClient {
  private readonly client: grpc.Client;
  private readonly baseHeaders: Record<string, string>;

  constructor(location: string, options: FlightClientOptions = {}) {
    const messageBytesMax = options.messageBytesMax ?? -1;
    this.client = new grpc.Client(parseLocation(location), grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': messageBytesMax,
      'grpc.max_send_message_length': messageBytesMax,
      'grpc-node.flow_control_window': options.flowControlWindowBytes ?? 32 * 1024 * 1024,
    });
    this.baseHeaders = { ...options.headers };
    if (options.token !== undefined) this.baseHeaders.authorization = `Bearer ${options.token}`;
  }

  close(): void {
    this.client.close();
  }

  async handshake(payload: Uint8Array = new Uint8Array(0), options: CallOptions = {}): Promise<Uint8Array> {
    const responses = this.bidi<HandshakeRequest, HandshakeResponse>('Handshake', toAsync([{ protocolVersion: 0, payload }]), options);
    let last: Uint8Array = new Uint8Array(0);
    for await (const response of responses) last = response.payload;
    return last;
  }

  listFlights(criteria: Criteria = { expression: new Uint8Array(0) }, options: CallOptions = {}): AsyncIterable<FlightInfo> {
    return this.serverStream<Criteria, FlightInfo>('ListFlights', criteria, options);
  }

  getFlightInfo(descriptor: FlightDescriptor, options: CallOptions = {}): Promise<FlightInfo> {
    return this.unary<FlightDescriptor, FlightInfo>('GetFlightInfo', descriptor, options);
  }

  pollFlightInfo(descriptor: FlightDescriptor, options: CallOptions = {}): Promise<PollInfo> {
    return this.unary<FlightDescriptor, PollInfo>('PollFlightInfo', descriptor, options);
  }

  async getSchema(descriptor: FlightDescriptor, options: CallOptions = {}): Promise<Schema> {
    const result = await this.unary<FlightDescriptor, SchemaResult>('GetSchema', descriptor, options);
    return decodeEncapsulatedSchema(result.schema);
  }

  /** Raw FlightData of a DoGet. */
  doGetMessages(ticket: Ticket | Uint8Array | string, options: CallOptions = {}): AsyncIterable<FlightData> {
    return this.serverStream<Ticket, FlightData>('DoGet', toTicket(ticket), options);
  }

  /** Record batches of a DoGet, decoded. */
  async *doGet(ticket: Ticket | Uint8Array | string, options: CallOptions = {}): AsyncGenerator<RecordBatch> {
    yield* decodeBatches(this.doGetMessages(ticket, options));
  }

  /** A whole DoGet as a Table. */
  async doGetTable(ticket: Ticket | Uint8Array | string, options: CallOptions = {}): Promise<Table> {
    const decoder = new FlightDataDecoder();
    const batches: RecordBatch[] = [];
    for await (const message of this.doGetMessages(ticket, options)) {
      const decoded = decoder.decode(message);
      if (decoded.kind === 'batch') batches.push(decoded.batch);
    }
    if (batches.length === 0) return decoder.schema ? new Table(decoder.schema) : new Table();
    return new Table(batches);
  }

  /** DoPut of raw messages; yields each PutResult as the server acknowledges. */
  doPutMessages(messages: AsyncIterable<FlightData> | Iterable<FlightData>, options: CallOptions = {}): AsyncIterable<PutResult> {
    return this.bidi<FlightData, PutResult>('DoPut', toAsync(messages), options);
  }

  /** Uploads record batches to `descriptor`; resolves to every acknowledgement. */
  async doPut(descriptor: FlightDescriptor, schema: Schema, batches: Iterable<RecordBatch> | AsyncIterable<RecordBatch>,
    options: CallOptions = {}): Promise<PutResult[]> {
    const results: PutResult[] = [];
    for await (const result of this.doPutMessages(encodeBatchStream(schema, batches, descriptor), options)) results.push(result);
    return results;
  }

  doExchange(messages: AsyncIterable<FlightData> | Iterable<FlightData>, options: CallOptions = {}): AsyncIterable<FlightData> {
    return this.bidi<FlightData, FlightData>('DoExchange', toAsync(messages), options);
  }

  doAction(type: string, body: Uint8Array | string = new Uint8Array(0), options: CallOptions = {}): AsyncIterable<FlightResult> {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    return this.serverStream<Action, FlightResult>('DoAction', { type, body: bytes }, options);
  }

  /** Runs an action and parses every result body as JSON. */
  async doActionJson<T = unknown>(type: string, body?: unknown, options: CallOptions = {}): Promise<T[]> {
    const payload = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    const out: T[] = [];
    for await (const result of this.doAction(type, payload, options)) out.push(JSON.parse(Buffer.from(result.body).toString('utf8')) as T);
    return out;
  }

  async listActions(options: CallOptions = {}): Promise<ActionType[]> {
    const out: ActionType[] = [];
    for await (const action of this.serverStream<Record<string, never>, ActionType>('ListActions', {}, options)) out.push(action);
    return out;
  }

  private metadata(options: CallOptions): grpc.Metadata {
    const metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries({ ...this.baseHeaders, ...options.headers })) metadata.set(key, value);
    return metadata;
  }

  private callOptions(options: CallOptions): grpc.CallOptions {
    return options.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };
  }

  private unary<Req, Res>(method: string, request: Req, options: CallOptions): Promise<Res> {
    const shape = definition[method];
    return new Promise<Res>((resolve, reject) => {
      const call = this.client.makeUnaryRequest<Req, Res>(shape.path, shape.requestSerialize, shape.responseDeserialize,
        request, this.metadata(options), this.callOptions(options), (error, response) => {
          if (error) reject(FlightError.fromGrpc(error));
          else resolve(response as Res);
        });
      cancelOnAbort(options.signal, call);
    });
  }

  private async *serverStream<Req, Res>(method: string, request: Req, options: CallOptions): AsyncGenerator<Res> {
    const shape = definition[method];
    const call = this.client.makeServerStreamRequest<Req, Res>(shape.path, shape.requestSerialize,
      shape.responseDeserialize, request, this.metadata(options), this.callOptions(options));
    const stopListening = cancelOnAbort(options.signal, call);
    try {
      for await (const message of call as AsyncIterable<Res>) yield message;
    } catch (error) {
      throw FlightError.fromGrpc(error);
    } finally {
      stopListening();
      call.cancel(); // stops a call the caller left early; does nothing once its status came
    }
  }

  private async *bidi<Req, Res>(method: string, requests: AsyncIterable<Req>, options: CallOptions): AsyncGenerator<Res> {
    const shape = definition[method];
    const call = this.client.makeBidiStreamRequest<Req, Res>(shape.path, shape.requestSerialize,
      shape.responseDeserialize, this.metadata(options), this.callOptions(options));
    const stopListening = cancelOnAbort(options.signal, call);
    // Resolved when the response side is finished, so a writer waiting for 'drain' lets go.
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => { stop = resolve; });
    let finished = false;
    let writeError: unknown;
    void (async () => {
      try {
        for await (const request of requests) {
          if (finished) return;
          if (!call.write(request)) await Promise.race([once(call, 'drain'), stopped]);
        }
        if (!finished) call.end();
      } catch (error) {
        writeError = error;
        call.cancel();
      }
    })();
    try {
      for await (const message of call as AsyncIterable<Res>) yield message;
    } catch (error) {
      // A failing writer records its error before it cancels the call, so it is known here.
      if (writeError !== undefined) throw writeError;
      throw FlightError.fromGrpc(error);
    } finally {
      finished = true;
      stop();
      stopListening();
      call.cancel();
    }
    if (writeError !== undefined) throw writeError;
  }
}

function toTicket(ticket: Ticket | Uint8Array | string): Ticket {
  if (typeof ticket === 'string') return { ticket: Buffer.from(ticket, 'utf8') };
  if (ticket instanceof Uint8Array) return { ticket };
  return ticket;
}

async function* toAsync<T>(items: AsyncIterable<T> | Iterable<T>): AsyncGenerator<T> {
  for await (const item of items) yield item;
}

async function* encodeBatchStream(schema: Schema, batches: Iterable<RecordBatch> | AsyncIterable<RecordBatch>,
  descriptor: FlightDescriptor): AsyncGenerator<FlightData> {
  const [first] = encodeRecordBatches(schema, [], descriptor);
  yield first;
  const { FlightDataEncoder } = await import('./codec/ipc.ts');
  const encoder = new FlightDataEncoder(schema);
  for await (const batch of batches) yield* encoder.batchMessages(batch);
}

/** Decodes a stream of FlightData into record batches (schema and dictionaries applied). */
export async function* decodeBatches(messages: AsyncIterable<FlightData>): AsyncGenerator<RecordBatch> {
  const decoder = new FlightDataDecoder();
  for await (const message of messages) {
    const decoded = decoder.decode(message);
    if (decoded.kind === 'batch') yield decoded.batch;
  }
}

/**
 * Cancels `call` when `signal` aborts, at once if it already has (an aborted signal fires no
 * more events); returns what stops listening.
 */
function cancelOnAbort(signal: AbortSignal | undefined, call: { cancel(): void }): () => void {
  if (signal === undefined) return () => {};
  if (signal.aborted) {
    call.cancel();
    return () => {};
  }
  const cancel = () => call.cancel();
  signal.addEventListener('abort', cancel, { once: true });
  return () => signal.removeEventListener('abort', cancel);
}
