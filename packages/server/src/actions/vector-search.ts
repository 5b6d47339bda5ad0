import { RecordBatchStreamWriter, type RecordBatch, type Schema } from 'apache-arrow';
import { jsonBody, requireVectorSearch, type ActionDefinition } from './action.ts';
import { parseSearchByIdRequest, parseSearchRequest } from '../service/search-request.ts';

/** One Arrow IPC stream (schema, batch, end) per result batch. */
export function ipcStream(schema: Schema, batch: RecordBatch): Uint8Array {
  const writer = new RecordBatchStreamWriter();
  writer.reset(undefined, schema);
  writer.write(batch);
  writer.finish();
  return writer.toUint8Array(true);
}

/**
 * `VectorSearch`: `{"dataset", "vector" | "vectors": [[...], ...], "k"?, "filters"?, "ef"?,
 * "exact"?, "columns"?, "include_vectors"?}` -> one Result per query vector, each an Arrow IPC
 * stream of one batch: id, distance, score and the requested columns, best first.
 */
export const vectorSearch: ActionDefinition = {
  type: 'VectorSearch',
  description: 'k nearest neighbours of one or more query vectors; one Arrow IPC stream Result per query.',
  async run(body, context) {
    const request = parseSearchRequest(jsonBody(body));
    const { schema, batches } = await requireVectorSearch(context).searchEach(request.dataset, request.queries, request);
    return batches.map((batch) => ipcStream(schema, batch));
  },
};

/**
 * `VectorSearchByID`: `{"dataset", "id", "k"?, ...}` -> the neighbours of that row's vector
 * (the row itself left out), as one Arrow IPC stream Result.
 */
export const vectorSearchById: ActionDefinition = {
  type: 'VectorSearchByID',
  description: 'k nearest neighbours of the row with the given id (itself excluded); one Arrow IPC stream Result.',
  async run(body, context) {
    const { schema, batch } = await requireVectorSearch(context).searchById(parseSearchByIdRequest(jsonBody(body)));
    return [ipcStream(schema, batch)];
  },
};
