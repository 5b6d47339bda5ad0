/**
 * The Longbow client: datasets in and out as Apache Arrow, vector search, and the server's
 * actions, over Arrow Flight. Every failure the server reports is a LongbowError.
 */
import { FixedSizeList, type Schema, type Table } from 'apache-arrow';
import {
  FlightClient, GrpcStatus, decodeEncapsulatedSchema, parseLocation, pathDescriptor, type ActionType, type CallOptions,
  type FlightInfo,
} from '@longbow/flight';
import { Http2FlightChannel } from './http2-channel.ts';
import type { DataPlane } from './data-plane.ts';
import { toWireFilters, type Filters } from './filters.ts';
import { VECTOR_COLUMN_NAMES } from './infer-type.ts';
import { definedOnly, parseJsonBody, toJson } from './json.ts';
import { LongbowError, wrapErrors } from './longbow-error.ts';
import { isPlainInput, normalizeInput, type InputOptions, type PutData } from './put-input.ts';
import { putStream, type PutProgress, type PutSummary } from './put-stream.ts';
import { QueryResult } from './query-result.ts';
import { METRIC_METADATA_KEY, type Metric } from './record-batch-builder.ts';
import type {
  DatasetInfo, DeleteReply, DropReply, Readiness, ServerStats, SnapshotReply,
} from './replies.ts';
import {
  firstActionResult, searchById, searchOverExchange, searchTicket, type QueryVector, type QueryVectors,
  type SearchManyOptions, type SearchOptions,
} from './search.ts';

export interface ConnectOptions {
  /** Bearer token (the server's LONGBOW_AUTH_TOKEN). */
  token?: string;
  /** Extra headers on every call. */
  headers?: Record<string, string>;
  /** How long `connect` waits for the server to answer a Handshake (default 10 s). */
  connectTimeoutMs?: number;
  /** Skip the Handshake that `connect` makes to check address and token. */
  skipHandshake?: boolean;
  /** Largest gRPC message sent or received; -1 (default) for no limit. */
  messageBytesMax?: number;
  /**
   * How record batches travel (DoGet, DoPut, DoExchange): `http2` (default) is gRPC on the
   * client's own HTTP/2 connection, without grpc-js's copies or node:http2's per-frame events;
   * `node-http2` is gRPC on node:http2; `grpc-js` sends them through the Flight client.
   * Every other call goes through the Flight client (grpc-js).
   */
  dataTransport?: 'http2' | 'node-http2' | 'grpc-js';
  /** HTTP/2 flow-control window for record batches, in bytes (default 32 MiB). */
  flowControlWindowBytes?: number;
}

/** Default HTTP/2 window: large enough that a fast link is not throttled by acknowledgements of flow control. */
const FLOW_CONTROL_WINDOW_BYTES_DEFAULT = 32 * 1024 * 1024;

export interface PutOptions extends InputOptions, CallOptions {
  /** Largest batch sent whole, in bytes of Arrow buffers (default 64 MiB); larger ones go as row slices. */
  batchBytesMax?: number;
  /** Called after each acknowledged batch. */
  onProgress?: (progress: PutProgress) => void;
}

export interface GetOptions extends CallOptions {
  filters?: Filters;
  /** At most this many rows (0: the schema only). */
  limit?: number;
  /** Columns to return, in this order. */
  columns?: readonly string[];
}

export interface ListOptions extends CallOptions {
  /** Only datasets whose name contains this text. */
  nameContains?: string;
  /** ListFlights criteria filters over `name` and `rows` (docs/protocol.md). */
  filters?: Filters;
}

export interface WaitOptions extends CallOptions {
  /** Give up after this long (default 60 s). */
  waitMs?: number;
  /** Between two checks (default 100 ms). */
  intervalMs?: number;
}

export class Longbow {
  /** The Arrow Flight client underneath, for calls this class does not wrap. */
  readonly flight: FlightClient;
  /** Where record batches travel: the HTTP/2 channel, or the Flight client itself. */
  private readonly data: DataPlane;

  /**
   * Wraps an existing Flight client (record batches then travel through it too);
   * `Longbow.connect` is the usual way in.
   */
  constructor(flight: FlightClient, data: DataPlane = flight) {
    this.flight = flight;
    this.data = data;
  }

  /** Connects to `url` (`grpc://host:port`) and checks, with a Handshake, that it answers and accepts the token. */
  static async connect(url = 'grpc://localhost:3000', options: ConnectOptions = {}): Promise<Longbow> {
    let flight: FlightClient;
    let authority: string;
    const windowBytes = options.flowControlWindowBytes ?? FLOW_CONTROL_WINDOW_BYTES_DEFAULT;
    try {
      authority = parseLocation(url);
      flight = new FlightClient(url, {
        token: options.token, headers: options.headers, messageBytesMax: options.messageBytesMax, flowControlWindowBytes: windowBytes,
      });
    } catch (error) {
      throw new LongbowError(GrpcStatus.INVALID_ARGUMENT, (error as Error).message);
    }
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    const data = options.dataTransport === 'grpc-js' ? flight
      : new Http2FlightChannel(authority, {
        headers, messageBytesMax: options.messageBytesMax ?? -1, windowBytes,
        connection: options.dataTransport === 'node-http2' ? 'node' : 'own',
      });
    if (!options.skipHandshake) {
      try {
        await flight.handshake(new Uint8Array(0), { timeoutMs: options.connectTimeoutMs ?? 10_000 });
      } catch (error) {
        flight.close();
        if (data !== flight) data.close();
        throw LongbowError.from(error);
      }
    }
    return new Longbow(flight, data);
  }

  close(): void {
    this.flight.close();
    if (this.data !== this.flight) this.data.close();
  }

  /**
   * Appends `data` to `dataset`, creating it on first put. Plain objects and columns are typed
   * to the dataset's schema when it exists, else inferred. Resolves once every batch is stored.
   */
  async put(dataset: string, data: PutData, options: PutOptions = {}): Promise<PutSummary> {
    return wrapErrors(async () => {
      let inputOptions: InputOptions = options;
      if (isPlainInput(data) && options.schema === undefined) {
        inputOptions = { ...options, schema: await this.schemaOrUndefined(dataset, options) };
      }
      return putStream(this.data, dataset, normalizeInput(data, inputOptions), options);
    });
  }

  /** Reads `dataset`: `await` it for a Table, or `for await` over it for record batches. */
  get(dataset: string, options: GetOptions = {}): QueryResult {
    const plain = options.filters === undefined && options.limit === undefined && options.columns === undefined
      && !dataset.trimStart().startsWith('{');
    const ticket = plain ? dataset : toJson(definedOnly({
      name: dataset, filters: toWireFilters(options.filters), limit: options.limit, columns: options.columns,
    }));
    return new QueryResult(() => this.data.doGetMessages(ticket, options));
  }

  /** The `k` nearest rows to `vector`: a Table with `id`, `distance`, `score` and the asked-for columns. */
  async search(dataset: string, vector: QueryVector, options: SearchOptions = {}): Promise<Table> {
    return new QueryResult(() => this.data.doGetMessages(searchTicket(dataset, vector, options), options)).table();
  }

  /** One result Table per query vector, in order; the queries and results stream over DoExchange. */
  async searchMany(dataset: string, vectors: QueryVectors, options: SearchManyOptions = {}): Promise<Table[]> {
    return wrapErrors(() => searchOverExchange(this.data, dataset, vectors, options));
  }

  /** The `k` nearest neighbours of the row with this id (the row itself left out). */
  async searchById(dataset: string, id: number | bigint | string, options: SearchOptions = {}): Promise<Table> {
    return wrapErrors(() => searchById(this.flight, dataset, id, options));
  }

  /** Deletes the rows with these ids. */
  async delete(dataset: string, ids: ArrayLike<number | bigint | string>, options: CallOptions = {}): Promise<DeleteReply> {
    return this.action<DeleteReply>('delete', { dataset, ids: Array.from(ids) }, options);
  }

  /** Drops the dataset (durably). */
  async drop(dataset: string, options: CallOptions = {}): Promise<DropReply> {
    return this.action<DropReply>('drop_dataset', { name: dataset }, options);
  }

  /** Every dataset, sorted by name. */
  async list(options: ListOptions = {}): Promise<DatasetInfo[]> {
    const filters = toWireFilters(options.filters) ?? [];
    if (options.nameContains !== undefined) filters.push({ field: 'name', op: 'contains', value: options.nameContains });
    const expression = filters.length === 0 ? new Uint8Array(0) : Buffer.from(toJson({ filters }));
    return wrapErrors(async () => {
      const out: DatasetInfo[] = [];
      for await (const info of this.flight.listFlights({ expression }, options)) out.push(datasetInfo(info));
      return out;
    });
  }

  /** One dataset's rows, bytes, schema, metric and vector column. */
  async info(dataset: string, options: CallOptions = {}): Promise<DatasetInfo> {
    return wrapErrors(async () => datasetInfo(await this.flight.getFlightInfo(pathDescriptor(dataset), options)));
  }

  /** The dataset's schema. */
  async schema(dataset: string, options: CallOptions = {}): Promise<Schema> {
    return wrapErrors(() => this.flight.getSchema(pathDescriptor(dataset), options));
  }

  /** Server statistics (`get_stats`). */
  async stats(options: CallOptions = {}): Promise<ServerStats> {
    return this.action<ServerStats>('get_stats', undefined, options);
  }

  /** Writes a snapshot now (`force_snapshot`). */
  async snapshot(options: CallOptions = {}): Promise<SnapshotReply> {
    return this.action<SnapshotReply>('force_snapshot', undefined, options);
  }

  /** Whether the dataset's index has caught up with its rows (`check_readiness`). */
  async ready(dataset: string, options: CallOptions = {}): Promise<Readiness> {
    return this.action<Readiness>('check_readiness', { dataset }, options);
  }

  /** Polls `ready` until READY; NOT_FOUND and running out of time are LongbowErrors. */
  async waitUntilReady(dataset: string, options: WaitOptions = {}): Promise<Readiness> {
    const deadline = Date.now() + (options.waitMs ?? 60_000);
    for (;;) {
      const readiness = await this.ready(dataset, options);
      if (readiness.status === 'READY') return readiness;
      if (readiness.status === 'NOT_FOUND') {
        throw new LongbowError(GrpcStatus.NOT_FOUND, `dataset not found: ${dataset}`, 'DATASET_NOT_FOUND');
      }
      if (Date.now() >= deadline) {
        throw new LongbowError(GrpcStatus.DEADLINE_EXCEEDED, `dataset ${dataset} not ready: ${readiness.indexed} of ${readiness.rows} rows indexed`);
      }
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
    }
  }

  /** The actions the server offers. */
  async actions(options: CallOptions = {}): Promise<ActionType[]> {
    return wrapErrors(() => this.flight.listActions(options));
  }

  /**
   * Runs any action with a JSON body (or none) and returns its first JSON result. The call is
   * read to its end (see firstActionResult): an error the server reports after the first result
   * rejects.
   */
  async action<T = unknown>(type: string, body?: unknown, options: CallOptions = {}): Promise<T> {
    return wrapErrors(async () => {
      const payload = body === undefined ? new Uint8Array(0) : Buffer.from(toJson(body));
      const first = await firstActionResult(this.flight, type, payload, options);
      if (first === undefined) throw new LongbowError(GrpcStatus.INTERNAL, `action ${type} returned no result`);
      return parseJsonBody<T>(first);
    });
  }

  private async schemaOrUndefined(dataset: string, options: CallOptions): Promise<Schema | undefined> {
    try {
      return await this.flight.getSchema(pathDescriptor(dataset), options);
    } catch (error) {
      if (LongbowError.from(error).code === GrpcStatus.NOT_FOUND) return undefined;
      throw error;
    }
  }
}


export function datasetInfo(info: FlightInfo): DatasetInfo {
  const schema = decodeEncapsulatedSchema(info.schema);
  const name = info.flightDescriptor?.path[0] ?? '';
  const metric = (schema.metadata.get(METRIC_METADATA_KEY) ?? 'euclidean') as Metric;
  const out: DatasetInfo = { name, rows: Number(info.totalRecords), bytes: Number(info.totalBytes), schema, metric };
  const field = schema.fields.find((candidate) => VECTOR_COLUMN_NAMES.includes(candidate.name));
  if (field && field.type instanceof FixedSizeList) {
    out.vector = { column: field.name, dimensions: field.type.listSize, type: field.type.children[0].type };
  }
  return out;
}
