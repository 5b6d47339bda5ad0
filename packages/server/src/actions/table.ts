/** Every DoAction the server offers. ListActions is built from this list, in this order. */
import type { ActionDefinition } from './action.ts';
import { deleteRows } from './delete.ts';
import { dropDataset } from './drop-dataset.ts';
import { forceSnapshot } from './force-snapshot.ts';
import { getStats } from './get-stats.ts';
import { checkReadiness } from './check-readiness.ts';
import { vectorSearch, vectorSearchById } from './vector-search.ts';

export const ACTIONS: readonly ActionDefinition[] = [
  getStats, dropDataset, forceSnapshot, deleteRows, vectorSearch, vectorSearchById, checkReadiness,
];

const byType = new Map(ACTIONS.map((action) => [action.type, action]));

export function findAction(type: string): ActionDefinition | undefined {
  return byType.get(type);
}
