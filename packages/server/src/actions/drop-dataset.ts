import { datasetNameBody, type ActionDefinition } from './action.ts';

/** `drop_dataset`: body is the raw dataset name or `{"name"}`; NOT_FOUND when unknown. */
export const dropDataset: ActionDefinition = {
  type: 'drop_dataset',
  description: 'Drops a dataset and frees its memory. Body: the dataset name, or {"name": ...}.',
  async run(body, { store, logger }) {
    const name = datasetNameBody(body);
    await store.drop(name);
    logger.info({ dataset: name }, 'Dataset dropped');
    return [{ status: 'ok', message: 'dataset dropped' }];
  },
};
