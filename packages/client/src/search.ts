/**
 * Vector search requests. One query is a DoGet search ticket; many queries stream over
 * DoExchange (batches of query vectors in, the options as JSON in the first message's
 * app_metadata; result batches tagged with `query_index` out); neighbours of a stored row are
 * the VectorSearchByID action.
 */
import { RecordBatch, Schema, Table, Field, Struct, makeData, tableFromIPC } from 'apache-arrow';
import {
  FlightDataDecoder, FlightDataEncoder, FlightError, GrpcStatus, pathDescriptor, type CallOptions, type FlightClient,
  type FlightData,
} from '@longbow/flight';
import type { DataPlane } from './data-plane.ts';
import { flatVectorColumn } from './column-builder.ts';
import { toWireFilters, type Filters } from './filters.ts';
import { vectorType } from './infer-type.ts';
import { definedOnly, toJson } from './json.ts';
import { tableOf } from './query-result.ts';

export interface SearchOptions extends CallOptions {
  /** Nearest neighbours to return (server default when absent). */
  k?: number;
  filters?: Filters;
  /** Dataset columns to return beside `id`, `distance` and `score`. */
  columns?: readonly string[];
  /** HNSW search breadth (larger: better recall, slower). */
  ef?: number;
  /** Exact (brute-force) search instead of the index. */
  exact?: boolean;
  /** Return the stored vectors too. */
  includeVectors?: boolean;
}

export interface SearchManyOptions extends SearchOptions {
  /** Dimension of a flat Float32Array of queries. */
  dim?: number;
  /** Queries per batch sent over DoExchange. */
  queriesPerBatch?: number;
}

/** A query vector: a Float32Array or plain numbers. */
export type QueryVector = Float32Array | readonly number[];

/** Many query vectors: one per query, or one flat Float32Array of queries x dimensions (pass `dim`). */
export type QueryVectors = readonly QueryVector[] | Float32Array;

const QUERIES_PER_BATCH_DEFAULT = 1024;
const QUERY_INDEX_COLUMN = 'query_index';


/** The search options as the server reads them (tickets, DoExchange app_metadata, actions). */
function searchOptionsJson(options: SearchOptions): Record<string, unknown> {
  return definedOnly({
    k: options.k, filters: toWireFilters(options.filters), ef: options.ef, exact: options.exact,
    columns: options.columns, include_vectors: options.includeVectors,
  });
}

/** The DoGet ticket of one search. */
export function searchTicket(dataset: string, vector: QueryVector, options: SearchOptions): string {
  return toJson({ search: { dataset, vector: Array.from(vector), ...searchOptionsJson(options) } });
}

/** Queries as one flat Float32Array and their dimension. */
export function flattenQueries(vectors: QueryVectors, dim: number | undefined): { flat: Float32Array; dimensions: number; count: number } {
  if (vectors instanceof Float32Array) {
    if (dim === undefined || !Number.isInteger(dim) || dim <= 0 || vectors.length % dim !== 0) {
      throw new TypeError(`a flat Float32Array of ${vectors.length} query numbers needs a dim that divides it`);
    }
    return { flat: vectors, dimensions: dim, count: vectors.length / dim };
  }
  const dimensions = dim ?? vectors[0]?.length ?? 0;
  const flat = new Float32Array(vectors.length * dimensions);
  vectors.forEach((vector, i) => {
    if (vector.length !== dimensions) throw new TypeError(`query ${i} has ${vector.length} numbers, the first has ${dimensions}`);
    flat.set(vector, i * dimensions);
  });
  return { flat, dimensions, count: vectors.length };
}

function queryBatch(schema: Schema, flat: Float32Array): RecordBatch {
  const children = [flatVectorColumn(schema.fields[0].type, flat)];
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: children[0].length, nullCount: 0, children }));
}

async function* exchangeMessages(dataset: string, flat: Float32Array, dimensions: number, options: SearchManyOptions): AsyncGenerator<FlightData> {
  const schema = new Schema([new Field('vector', vectorType(dimensions), false)]);
  const encoder = new FlightDataEncoder(schema);
  // Options for every query travel as JSON in the first message's app_metadata.
  yield encoder.schemaMessage(pathDescriptor(dataset), Buffer.from(toJson(searchOptionsJson(options))));
  const perBatch = Math.max(1, options.queriesPerBatch ?? QUERIES_PER_BATCH_DEFAULT) * dimensions;
  for (let start = 0; start < flat.length; start += perBatch) {
    yield* encoder.batchMessages(queryBatch(schema, flat.subarray(start, start + perBatch)));
  }
}

/**
 * `batch` without the column at `index`. Built from the batch's own column data (RecordBatch.select
 * re-wraps the columns, and on decoded result batches that lost int64 values).
 */
function withoutColumn(batch: RecordBatch, index: number): RecordBatch {
  const fields = batch.schema.fields.filter((_, at) => at !== index);
  const children = batch.data.children.filter((_, at) => at !== index);
  const data = makeData({ type: new Struct(fields), length: batch.numRows, nullCount: 0, children });
  return new RecordBatch(new Schema(fields, batch.schema.metadata), data);
}

/** Splits result batches by their `query_index` column (runs of equal values) into one Table per query. */
export function splitByQuery(schema: Schema | null, batches: readonly RecordBatch[], count: number): Table[] {
  const perQuery: RecordBatch[][] = Array.from({ length: count }, () => []);
  const queryColumnAt = schema?.fields.findIndex((field) => field.name === QUERY_INDEX_COLUMN) ?? -1;
  let resultSchema = schema && queryColumnAt >= 0
    ? new Schema(schema.fields.filter((_, at) => at !== queryColumnAt), schema.metadata) : schema;
  for (const batch of batches) {
    const index = batch.schema.fields.findIndex((field) => field.name === QUERY_INDEX_COLUMN);
    if (index < 0) throw new TypeError(`search results have no ${QUERY_INDEX_COLUMN} column`);
    const column = batch.getChildAt(index)!;
    let runStart = 0;
    for (let row = 1; row <= batch.numRows; row++) {
      if (row < batch.numRows && Number(column.get(row)) === Number(column.get(runStart))) continue;
      const query = Number(column.get(runStart));
      if (!(query >= 0 && query < count)) throw new RangeError(`search results name query ${query} of ${count}`);
      const slice = withoutColumn(batch.slice(runStart, row), index);
      resultSchema ??= slice.schema;
      perQuery[query].push(slice);
      runStart = row;
    }
  }
  return perQuery.map((slices) => tableOf(resultSchema, slices));
}

export async function searchOverExchange(flight: DataPlane, dataset: string, vectors: QueryVectors,
  options: SearchManyOptions): Promise<Table[]> {
  const { flat, dimensions, count } = flattenQueries(vectors, options.dim);
  if (count === 0) return [];
  const decoder = new FlightDataDecoder();
  const batches: RecordBatch[] = [];
  for await (const message of flight.doExchange(exchangeMessages(dataset, flat, dimensions, options), options)) {
    const decoded = decoder.decode(message);
    if (decoded.kind === 'batch') batches.push(decoded.batch);
  }
  return splitByQuery(decoder.schema, batches, count);
}

/** The `k` nearest neighbours of the row with this id, the row itself left out (the VectorSearchByID action). */
export async function searchById(flight: FlightClient, dataset: string, id: number | bigint | string, options: SearchOptions): Promise<Table> {
  const body = toJson({ dataset, id, ...searchOptionsJson(options) });
  const first = await firstActionResult(flight, 'VectorSearchByID', body, options);
  if (first === undefined) throw new FlightError(GrpcStatus.INTERNAL, 'VectorSearchByID returned no result');
  return tableFromIPC(first);
}

/**
 * The body of an action's first result, reading the call to its end (any further results are
 * dropped): an error the server reports after the first result rejects, and the call is never
 * cancelled, which for grpc-js means an error object with a formatted stack and a reset stream.
 */
export async function firstActionResult(flight: FlightClient, type: string, body: Uint8Array | string, options: CallOptions): Promise<Uint8Array | undefined> {
  let first: Uint8Array | undefined;
  for await (const result of flight.doAction(type, body, options)) first ??= result.body;
  return first;
}
