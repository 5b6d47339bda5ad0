/** The shape of one DoAction: its name, one-line description and handler. */
import type { Logger } from '../log/logger.ts';
import type { Store } from '../store/store.ts';
import type { Config } from '../config/config.ts';
import type { Snapshotter } from '../snapshot/snapshotter.ts';
import type { LongbowMetrics } from '../metrics/longbow-metrics.ts';
import type { VectorIndexes } from '../store/vector-indexes.ts';
import type { VectorSearch } from '../service/vector-search.ts';
import { longbowError } from '../errors.ts';
import { parseJsonObject, utf8Text, type JsonObject } from '../service/json-body.ts';

/** What actions may use. */
export interface ActionContext {
  store: Store;
  config: Config;
  logger: Logger;
  startedAtMs: number;
  /** Absent when the server runs without a write-ahead log. */
  snapshotter?: Snapshotter;
  /** The server's metrics (absent in tests that build a context by hand). */
  metrics?: LongbowMetrics;
  /** The datasets' vector indexes and the search over them (absent in hand-built contexts). */
  vectorIndexes?: VectorIndexes;
  vectorSearch?: VectorSearch;
}

/** The vector search of the context (an assertion: the server always wires it). */
export function requireVectorSearch(context: ActionContext): VectorSearch {
  if (!context.vectorSearch) throw new Error('vector search is not wired into this context');
  return context.vectorSearch;
}

export interface ActionDefinition {
  type: string;
  description: string;
  /** Returns what to send, one Result each: a Uint8Array as it is, anything else as JSON. */
  run(body: Uint8Array, context: ActionContext): Promise<unknown[]>;
}

/** The body as a JSON object; an empty body is `{}`. Throws INVALID_ACTION_BODY. */
export function jsonBody(body: Uint8Array): JsonObject {
  const text = utf8Text(body);
  if (text === undefined) throw longbowError('INVALID_ACTION_BODY', 'not valid UTF-8');
  if (text.trim() === '') return {};
  const parsed = parseJsonObject(text);
  if (!parsed.ok) throw longbowError('INVALID_ACTION_BODY', parsed.reason);
  return parsed.value;
}

/** A dataset name from a raw-name body or a JSON `{"name"}` / `{"dataset"}` body. */
export function datasetNameBody(body: Uint8Array): string {
  const text = utf8Text(body);
  if (text === undefined) throw longbowError('INVALID_ACTION_BODY', 'not valid UTF-8');
  const trimmed = text.trim();
  if (trimmed === '') throw longbowError('INVALID_ACTION_BODY', 'expected a dataset name or {"name": ...}');
  if (!trimmed.startsWith('{')) return text;
  const json = jsonBody(body);
  const name = json.name ?? json.dataset;
  if (typeof name !== 'string' || name === '') throw longbowError('INVALID_ACTION_BODY', '"name" must be a non-empty string');
  return name;
}
