import { datasetNameBody, type ActionDefinition } from './action.ts';

/**
 * `check_readiness`: `{"dataset"}` (or the raw name) ->
 * `{"status":"READY"|"INDEXING"|"NOT_FOUND","rows":N,"indexed":N}`. READY means searches use
 * the index for every row; INDEXING means the newest rows are still searched exactly (they
 * are found all the same). A dataset without a vector column is READY with `indexed` 0.
 */
export const checkReadiness: ActionDefinition = {
  type: 'check_readiness',
  description: 'Whether a dataset is fully indexed: status READY, INDEXING or NOT_FOUND, with rows and indexed rows.',
  async run(body, { store, vectorIndexes }) {
    const name = datasetNameBody(body);
    const dataset = store.list().find((candidate) => candidate.name === name);
    if (!dataset) return [{ status: 'NOT_FOUND', dataset: name, rows: 0, indexed: 0 }];
    const status = vectorIndexes?.status(dataset);
    if (!status) return [{ status: 'READY', dataset: name, rows: dataset.rows, indexed: 0, index: 'none' }];
    const building = status.state === 'starting' || status.state === 'indexing';
    return [{
      status: building ? 'INDEXING' : 'READY', dataset: name, rows: dataset.rows, indexed: status.indexedRows,
      total_rows: status.rows, index: status.state, index_bytes: status.memoryBytes,
    }];
  },
};
