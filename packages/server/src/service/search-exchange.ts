/**
 * Search through Flight streams:
 * - DoGet with `{"search": {...}}` tickets: one batch of results (with `query_index` first when
 *   the ticket holds several `vectors`).
 * - DoExchange with descriptor PATH [dataset]: the client streams batches of query vectors
 *   (column `vector`, or `embedding`, FixedSizeList of floats; optional integer column `k`);
 *   for each batch the server sends one batch of results with `query_index` (the query's row
 *   number over the whole stream). Options for every query (`k`, `filters`, `ef`, `exact`,
 *   `columns`, `include_vectors`) may come as JSON in the first message's app_metadata.
 */
import { DataType, type RecordBatch, type Vector } from 'apache-arrow';
import { FlightDataDecoder, FlightDataEncoder, type FlightData } from '@longbow/flight';
import { longbowError } from '../errors.ts';
import { vectorsFromBatch } from '../index/vector-conversion.ts';
import { parseJsonObject, utf8Text } from './json-body.ts';
import { parseSearchOptions, parseSearchRequest, type SearchOptions } from './search-request.ts';
import type { PreparedSearch, VectorSearch } from './vector-search.ts';
import type { QueryHits } from './search-results.ts';
import { SEARCH_K_MAX, SEARCH_QUERIES_MAX } from '../limits.ts';

/** DoGet of a search ticket. */
export async function* searchTicketMessages(search: VectorSearch, json: Record<string, unknown>): AsyncGenerator<FlightData> {
  const request = parseSearchRequest(json);
  const several = request.queries.length > 1;
  const prepared = search.prepare(request.dataset, request, several);
  const hits = await search.hits(prepared, search.packQueries(prepared, request.queries));
  const encoder = new FlightDataEncoder(prepared.schema);
  yield encoder.schemaMessage();
  yield* encoder.batchMessages(search.resultBatch(prepared, hits, several));
}

function exchangeOptions(appMetadata: Uint8Array): SearchOptions {
  if (appMetadata.length === 0) return parseSearchOptions({});
  const text = utf8Text(appMetadata);
  const parsed = text === undefined ? undefined : parseJsonObject(text);
  if (!parsed?.ok) throw longbowError('INVALID_SEARCH', 'the first message\'s app_metadata must be a JSON object of search options');
  return parseSearchOptions(parsed.value);
}

/** The query vectors of an exchange batch, checked against the dataset, and each query's k. */
function queriesOf(prepared: PreparedSearch, batch: RecordBatch): { queries: Float32Array; ks: Int32Array | undefined } {
  const dimensions = prepared.dataset.roles.vector!.dimensions;
  const column = batch.schema.fields.findIndex((field) => field.name === 'vector' || field.name === 'embedding');
  const type = column >= 0 ? batch.schema.fields[column].type : undefined;
  if (!type || !DataType.isFixedSizeList(type)) {
    throw longbowError('INVALID_SEARCH', 'query batches need a column "vector" of FixedSizeList<float32>[dimensions]');
  }
  if (type.listSize !== dimensions) {
    throw longbowError('INVALID_SEARCH', `query vectors have ${type.listSize} dimensions, dataset ${prepared.dataset.name} has ${dimensions}`);
  }
  let converted;
  try {
    converted = vectorsFromBatch(batch, column);
  } catch (error) {
    throw longbowError('INVALID_SEARCH', (error as Error).message);
  }
  const queries = converted.vectors;
  for (let at = 0; at < queries.length; at++) {
    if (!Number.isFinite(queries[at])) {
      throw longbowError('INVALID_SEARCH', `query ${Math.floor(at / dimensions)} of the batch has a null, NaN or infinite element`);
    }
  }
  const kColumn = batch.getChild('k') as Vector | null;
  if (!kColumn) return { queries, ks: undefined };
  const ks = new Int32Array(batch.numRows);
  for (let row = 0; row < batch.numRows; row++) {
    const value: unknown = kColumn.get(row);
    const k = typeof value === 'bigint' ? Number(value) : value;
    if (k === null || k === undefined) ks[row] = prepared.options.k;
    else if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > SEARCH_K_MAX) {
      throw longbowError('INVALID_SEARCH', `"k" of query ${row} must be an integer from 1 to ${SEARCH_K_MAX}, got ${String(value)}`);
    } else ks[row] = k;
  }
  return { queries, ks };
}

function truncated(hits: QueryHits, k: number): QueryHits {
  if (hits.ordinals.length <= k) return hits;
  return {
    ordinals: Array.prototype.slice.call(hits.ordinals, 0, k) as number[],
    distances: Array.prototype.slice.call(hits.distances, 0, k) as number[],
    scores: Array.prototype.slice.call(hits.scores, 0, k) as number[],
  };
}

/** DoExchange: batches of queries in, batches of results out, in order. */
export async function* searchExchange(search: VectorSearch, messages: AsyncIterable<FlightData>,
  datasetOf: (descriptor: FlightData['flightDescriptor']) => string): AsyncGenerator<FlightData> {
  const decoder = new FlightDataDecoder();
  let prepared: PreparedSearch | undefined;
  let encoder: FlightDataEncoder | undefined;
  let queryBase = 0;
  for await (const message of messages) {
    const decoded = decoder.decode(message);
    if (decoded.kind === 'schema' || (decoded.kind === 'metadata' && !prepared && decoded.descriptor)) {
      if (prepared) continue; // a later schema message (a new stream of queries) changes nothing
      const options = exchangeOptions(decoded.appMetadata);
      prepared = search.prepare(datasetOf(decoded.descriptor), options, true);
      encoder = new FlightDataEncoder(prepared.schema);
      yield encoder.schemaMessage();
      continue;
    }
    if (decoded.kind !== 'batch') continue;
    if (!prepared || !encoder) throw longbowError('MISSING_SCHEMA', 'a batch of queries arrived before the schema');
    const batch = decoded.batch;
    if (batch.numRows === 0) continue;
    if (batch.numRows > SEARCH_QUERIES_MAX) {
      throw longbowError('INVALID_SEARCH', `a batch holds ${batch.numRows} queries, more than ${SEARCH_QUERIES_MAX}: send smaller batches`);
    }
    const current = search.refresh(prepared);
    const { queries, ks } = queriesOf(current, batch);
    let widest = current.options.k;
    if (ks) for (const k of ks) widest = Math.max(widest, k);
    const wide = widest === current.options.k ? current : { ...current, options: { ...current.options, k: widest } };
    let hits = await search.hits(wide, queries);
    if (ks) hits = hits.map((queryHits, row) => truncated(queryHits, ks[row]));
    const result = search.resultBatch(current, hits, true);
    if (queryBase > 0) {
      const queryIndex = result.getChildAt(0)!.data[0].values as Int32Array;
      for (let row = 0; row < queryIndex.length; row++) queryIndex[row] += queryBase;
    }
    queryBase += batch.numRows;
    yield* encoder.batchMessages(result);
  }
  if (!prepared) throw longbowError('MISSING_SCHEMA', 'the exchange ended without a schema message naming the dataset');
}
