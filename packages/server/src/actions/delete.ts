import { longbowError } from '../errors.ts';
import { DELETE_IDS_PER_REQUEST_MAX } from '../limits.ts';
import { unknownKeys } from '../service/json-body.ts';
import { jsonBody, type ActionDefinition } from './action.ts';

const DELETE_KEYS = ['dataset', 'name', 'ids'] as const;

/**
 * `delete`: body `{"dataset" (or "name"): str, "ids": [...]}`. Deletes the live rows with
 * those ids, durably (a WAL record), and replies `{"status":"ok","dataset","deleted",
 * "not_found","seq"}`. Ids that match no row are counted in `not_found`, not refused.
 */
export const deleteRows: ActionDefinition = {
  type: 'delete',
  description: 'Deletes rows by id, durably. Body: {"dataset": ..., "ids": [...]}; replies the number deleted.',
  async run(body, { store, logger }) {
    const json = jsonBody(body);
    const unknown = unknownKeys(json, DELETE_KEYS);
    if (unknown.length > 0) {
      throw longbowError('INVALID_ACTION_BODY', `unknown field ${unknown.map((key) => `"${key}"`).join(', ')} (allowed: ${DELETE_KEYS.join(', ')})`);
    }
    const name = json.dataset ?? json.name;
    if (typeof name !== 'string' || name === '') throw longbowError('INVALID_ACTION_BODY', '"dataset" (or "name") must be a non-empty string');
    if (!Array.isArray(json.ids)) throw longbowError('INVALID_ACTION_BODY', '"ids" must be a list of ids');
    if (json.ids.length > DELETE_IDS_PER_REQUEST_MAX) {
      throw longbowError('INVALID_ACTION_BODY', `at most ${DELETE_IDS_PER_REQUEST_MAX} ids per delete, got ${json.ids.length}`);
    }
    const result = await store.delete(name, json.ids);
    logger.debug({ dataset: name, ids: json.ids.length, deleted: result.deleted, not_found: result.notFound, seq: result.seq }, 'Rows deleted');
    return [{ status: 'ok', dataset: name, deleted: result.deleted, not_found: result.notFound, seq: result.seq }];
  },
};
