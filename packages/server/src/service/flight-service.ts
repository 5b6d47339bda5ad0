/**
 * Longbow's Flight handlers: they turn requests into store calls and store results into Flight
 * messages. Errors are thrown as registry errors (errors.ts); the Flight layer maps them to
 * statuses and turns anything unexpected into INTERNAL.
 */
import { timingSafeEqual } from 'node:crypto';
import {
  DescriptorType, FlightDataDecoder, FlightDataEncoder, encapsulateSchema,
  type ActionType, type CallContext, type FlightData, type FlightDescriptor, type FlightHandlers, type FlightInfo,
  type FlightResult, type HandshakeRequest, type HandshakeResponse, type PutResult,
} from '@longbow/flight';
import { ACTIONS, findAction } from '../actions/table.ts';
import { requireVectorSearch, type ActionContext } from '../actions/action.ts';
import { searchExchange, searchTicketMessages } from './search-exchange.ts';
import { longbowError } from '../errors.ts';
import type { Dataset } from '../store/dataset.ts';
import { planScan } from '../store/scan.ts';
import type { AppendResult } from '../store/store.ts';
import { PUT_BATCHES_IN_FLIGHT_MAX } from '../limits.ts';
import { parseCriteria } from './criteria.ts';
import { parseTicket } from './ticket.ts';
import { PutStaging } from './put-staging.ts';

const EMPTY = new Uint8Array(0);

/** 0 when `a` settles first (fulfilled or rejected), 1 when `b` does. */
function firstSettled(a: Promise<unknown>, b: Promise<unknown>): Promise<0 | 1> {
  return Promise.race([a.then(() => 0 as const, () => 0 as const), b.then(() => 1 as const, () => 1 as const)]);
}

function json(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** The dataset a descriptor names: PATH [name]. Throws INVALID_DESCRIPTOR. */
export function datasetOf(descriptor: FlightDescriptor | undefined | null): string {
  if (!descriptor) throw longbowError('INVALID_DESCRIPTOR', 'missing FlightDescriptor; use a PATH descriptor naming the dataset');
  if (descriptor.type === DescriptorType.CMD) {
    throw longbowError('INVALID_DESCRIPTOR', 'CMD descriptors are not supported; use a PATH descriptor naming the dataset');
  }
  const name = descriptor.path[0];
  if (name === undefined || name === '') throw longbowError('INVALID_DESCRIPTOR', 'descriptor path must name a dataset');
  return name;
}

/** The dataset name as ticket; a name that looks like JSON travels as a JSON ticket instead. */
function ticketFor(name: string): Uint8Array {
  return Buffer.from(name.trimStart().startsWith('{') ? JSON.stringify({ name }) : name, 'utf8');
}

function flightInfo(dataset: Dataset): FlightInfo {
  return {
    schema: encapsulateSchema(dataset.schema),
    flightDescriptor: { type: DescriptorType.PATH, cmd: EMPTY, path: [dataset.name] },
    endpoint: [{ ticket: { ticket: ticketFor(dataset.name) }, location: [], appMetadata: EMPTY }],
    totalRecords: dataset.rows,
    totalBytes: dataset.bytes,
    ordered: true,
    appMetadata: EMPTY,
  };
}

function bearerMatches(header: string | undefined, token: string): boolean {
  if (header === undefined) return false;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match !== null && secretEquals(match[1], token);
}

/** `authorization: Basic base64(user:password)` whose password is the token (pyarrow's authenticate_basic_token). */
function basicMatches(header: string | undefined, token: string): boolean {
  const match = header === undefined ? null : /^Basic\s+(.+)$/i.exec(header.trim());
  if (!match) return false;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 && secretEquals(decoded.slice(colon + 1), token);
}

function secretEquals(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

export class LongbowFlightService implements FlightHandlers {
  constructor(private readonly context: ActionContext) {}

  /** Refuses calls without the bearer token when one is configured (Handshake may send it as payload). */
  authenticate(call: CallContext): void {
    const token = this.context.config.authToken;
    if (token === undefined || call.method === 'Handshake') return;
    if (!bearerMatches(call.headers.authorization, token)) {
      throw longbowError('UNAUTHENTICATED', 'send "authorization: Bearer <token>"');
    }
  }

  /**
   * Echoes each request. With a token configured, the call must carry it: as the bearer header,
   * as Basic credentials whose password is the token, or as the payload of every request.
   */
  async *handshake(requests: AsyncIterable<HandshakeRequest>, call: CallContext): AsyncGenerator<HandshakeResponse> {
    const token = this.context.config.authToken;
    const headerOk = token === undefined || bearerMatches(call.headers.authorization, token) || basicMatches(call.headers.authorization, token);
    const refuse = () => longbowError('UNAUTHENTICATED', 'send "authorization: Bearer <token>", Basic credentials with the token as password, or the token as handshake payload');
    let received = 0;
    for await (const request of requests) {
      received += 1;
      if (!headerOk && !secretEquals(Buffer.from(request.payload).toString('utf8'), token!)) throw refuse();
      yield { protocolVersion: request.protocolVersion, payload: request.payload };
    }
    if (received === 0 && !headerOk) throw refuse();
  }

  async *listFlights(criteria: { expression: Uint8Array }): AsyncGenerator<FlightInfo> {
    const matches = parseCriteria(criteria.expression);
    for (const dataset of this.context.store.list()) {
      if (matches({ name: dataset.name, rows: dataset.rows })) yield flightInfo(dataset);
    }
  }

  async getFlightInfo(descriptor: FlightDescriptor): Promise<FlightInfo> {
    return flightInfo(this.context.store.get(datasetOf(descriptor)));
  }

  async pollFlightInfo(descriptor: FlightDescriptor) {
    // Every flight is complete at once: no descriptor to poll again, progress 1.
    return { info: flightInfo(this.context.store.get(datasetOf(descriptor))), progress: 1 };
  }

  async getSchema(descriptor: FlightDescriptor) {
    return { schema: encapsulateSchema(this.context.store.get(datasetOf(descriptor)).schema) };
  }

  async *doGet(ticket: { ticket: Uint8Array }): AsyncGenerator<FlightData> {
    const parsed = parseTicket(ticket.ticket);
    if (parsed.kind === 'search') {
      yield* searchTicketMessages(requireVectorSearch(this.context), parsed.search);
      return;
    }
    const plan = planScan(this.context.store.get(parsed.dataset), parsed);
    const encoder = new FlightDataEncoder(plan.schema);
    yield encoder.schemaMessage();
    for (const batch of plan.batches) yield* encoder.batchMessages(batch);
  }

  /**
   * Batches are validated and logged in arrival order and acknowledged in that order as soon as
   * each is durable. While up to PUT_BATCHES_IN_FLIGHT_MAX batches wait for the log, the next
   * message is already being received, so network and disk overlap; a client that waits for
   * each acknowledgement before sending more gets it without delay.
   */
  async *doPut(messages: AsyncIterable<FlightData>, call?: CallContext): AsyncGenerator<PutResult> {
    const { store, config } = this.context;
    const decoder = new FlightDataDecoder();
    const pending: Promise<AppendResult>[] = [];
    const iterator = messages[Symbol.asyncIterator]();
    let reading: Promise<IteratorResult<FlightData>> | undefined;
    let ended = false;
    let dataset: string | undefined;
    let stored = 0;
    // Large batches go to the log while they arrive (service/put-staging.ts).
    const staging = call?.watchRequests && store.canStagePuts && config.walStreamBytesMin > 0
      ? new PutStaging(store, config.walStreamBytesMin, datasetOf) : undefined;
    if (staging) call!.watchRequests!(staging);
    try {
      while (!ended || pending.length > 0) {
        if (!ended && reading === undefined && pending.length < PUT_BATCHES_IN_FLIGHT_MAX) reading = iterator.next();
        if (pending.length > 0 && (reading === undefined || await firstSettled(pending[0], reading) === 0)) {
          const result = await pending.shift()!;
          stored += 1;
          yield { appMetadata: json({ dataset: result.dataset, rows: result.rows, total_rows: result.totalRows, seq: result.seq }) };
          continue;
        }
        const next = await reading!;
        reading = undefined;
        if (next.done) {
          ended = true;
          continue;
        }
        const decoded = decoder.decode(next.value);
        if (decoded.kind === 'schema') {
          const name = dataset ?? datasetOf(decoded.descriptor);
          store.checkSchema(name, decoded.schema);
          dataset = name;
        } else if (decoded.kind === 'batch') {
          if (dataset === undefined) throw longbowError('MISSING_SCHEMA', 'a record batch arrived before the schema');
          // store.append validates, reserves memory and takes its log sequence synchronously.
          const staged = staging?.take(dataset, next.value.dataBody as Uint8Array);
          const appended = store.append(dataset, decoded.batch, staged);
          // Handled when acknowledged; a refused batch's staged record is never committed.
          appended.catch(() => staged?.abandon());
          pending.push(appended);
        }
        // Dictionary batches are kept by the decoder; metadata-only messages carry nothing to store.
      }
    } finally {
      if (staging) {
        call!.watchRequests!(undefined);
        staging.abandonAll();
      }
      // After a failure, batches still in flight finish on their own (durable but unacknowledged).
      pending.length = 0;
      if (!ended) void iterator.return?.()?.catch(() => undefined);
    }
    if (dataset === undefined || decoder.schema === null) throw longbowError('MISSING_SCHEMA', 'the stream ended without a schema message');
    // A stream with a schema and no batches creates an empty dataset (pyarrow's write_table of an empty table).
    if (stored === 0) store.ensure(dataset, decoder.schema);
  }

  /** Batch search: query vectors in, results out (service/search-exchange.ts). */
  doExchange(messages: AsyncIterable<FlightData>): AsyncGenerator<FlightData> {
    return searchExchange(requireVectorSearch(this.context), messages, datasetOf);
  }

  async *doAction(action: { type: string; body: Uint8Array }): AsyncGenerator<FlightResult> {
    const definition = findAction(action.type);
    if (!definition) throw longbowError('UNKNOWN_ACTION', `"${action.type}" (ListActions shows the available actions)`);
    for (const document of await definition.run(action.body, this.context)) {
      yield { body: document instanceof Uint8Array ? document : json(document) };
    }
  }

  async *listActions(): AsyncGenerator<ActionType> {
    for (const action of ACTIONS) yield { type: action.type, description: action.description };
  }
}
