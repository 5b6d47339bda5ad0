/**
 * Search requests, as DoGet `{"search": {...}}` tickets and the VectorSearch / VectorSearchByID
 * action bodies carry them:
 * `{"dataset"|"name", "vector": [...] | "vectors": [[...], ...], "k"?, "filters"?, "ef"?,
 *   "exact"?, "columns"?, "include_vectors"?}`. Everything that can be checked without the
 * dataset is checked here; the dimension is checked against the dataset by the search itself.
 */
import { longbowError } from '../errors.ts';
import { parseFilters, type Filter } from '../store/filters.ts';
import { SEARCH_EF_MAX, SEARCH_K_DEFAULT, SEARCH_K_MAX, SEARCH_QUERIES_MAX, VECTOR_DIMENSIONS_MAX } from '../limits.ts';
import { unknownKeys, type JsonObject } from './json-body.ts';

export interface SearchOptions {
  k: number;
  filters: Filter[];
  /** HNSW candidate list size for this query (LONGBOW_HNSW_EF_SEARCH when absent). */
  ef?: number;
  /** Exact search (the flat index) instead of HNSW. */
  exact: boolean;
  /** Dataset columns to return beside id, distance and score. */
  columns: string[];
  includeVectors: boolean;
}

export interface SearchRequest extends SearchOptions {
  dataset: string;
  /** One or more query vectors (`vector` gives one). */
  queries: Float32Array[];
}

export interface SearchByIdRequest extends SearchOptions {
  dataset: string;
  id: string | number;
}

const OPTION_KEYS = ['k', 'filters', 'ef', 'exact', 'columns', 'include_vectors'] as const;
const SEARCH_KEYS = ['dataset', 'name', 'vector', 'vectors', ...OPTION_KEYS] as const;
const SEARCH_BY_ID_KEYS = ['dataset', 'name', 'id', ...OPTION_KEYS] as const;

function invalid(message: string): Error {
  return longbowError('INVALID_SEARCH', message);
}

function integerField(json: JsonObject, key: string, min: number, max: number): number | undefined {
  const value = json[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`"${key}" must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function booleanField(json: JsonObject, key: string): boolean {
  const value = json[key];
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw invalid(`"${key}" must be true or false`);
  return value;
}

/** A query vector from JSON: a non-empty list of finite numbers. */
export function parseQueryVector(value: unknown, what = '"vector"'): Float32Array {
  if (!Array.isArray(value) || value.length === 0) throw invalid(`${what} must be a non-empty list of numbers`);
  if (value.length > VECTOR_DIMENSIONS_MAX) throw invalid(`${what} has ${value.length} dimensions, more than ${VECTOR_DIMENSIONS_MAX}`);
  const vector = new Float32Array(value.length);
  for (let index = 0; index < value.length; index++) {
    const element: unknown = value[index];
    if (typeof element !== 'number' || !Number.isFinite(element)) {
      throw invalid(`${what}[${index}] must be a finite number, got ${element === null ? 'null' : typeof element === 'number' ? String(element) : JSON.stringify(element)}`);
    }
    vector[index] = element;
    if (!Number.isFinite(vector[index])) throw invalid(`${what}[${index}] = ${element} does not fit in float32`);
  }
  return vector;
}

function datasetField(json: JsonObject): string {
  const dataset = json.dataset ?? json.name;
  if (typeof dataset !== 'string' || dataset === '') throw invalid('"dataset" must be a non-empty string');
  return dataset;
}

/** The options shared by every search request. */
export function parseSearchOptions(json: JsonObject): SearchOptions {
  const columns = json.columns;
  if (columns !== undefined && columns !== null && (!Array.isArray(columns) || !columns.every((column) => typeof column === 'string'))) {
    throw invalid('"columns" must be a list of column names');
  }
  const ef = integerField(json, 'ef', 1, SEARCH_EF_MAX);
  return {
    k: integerField(json, 'k', 1, SEARCH_K_MAX) ?? SEARCH_K_DEFAULT,
    filters: parseFilters(json.filters),
    ...(ef === undefined ? {} : { ef }),
    exact: booleanField(json, 'exact'),
    columns: (columns as string[] | undefined | null) ?? [],
    includeVectors: booleanField(json, 'include_vectors'),
  };
}

/** A search request object. Throws INVALID_SEARCH naming what was expected. */
export function parseSearchRequest(json: JsonObject): SearchRequest {
  const unknown = unknownKeys(json, SEARCH_KEYS);
  if (unknown.length > 0) throw invalid(`unknown field ${unknown.map((key) => `"${key}"`).join(', ')} (allowed: ${SEARCH_KEYS.join(', ')})`);
  const dataset = datasetField(json);
  let queries: Float32Array[];
  if (json.vector !== undefined && json.vectors !== undefined) throw invalid('give "vector" or "vectors", not both');
  if (json.vector !== undefined) {
    queries = [parseQueryVector(json.vector)];
  } else if (json.vectors !== undefined) {
    if (!Array.isArray(json.vectors) || json.vectors.length === 0) throw invalid('"vectors" must be a non-empty list of vectors');
    if (json.vectors.length > SEARCH_QUERIES_MAX) throw invalid(`"vectors" holds ${json.vectors.length} queries, more than ${SEARCH_QUERIES_MAX}`);
    queries = json.vectors.map((vector: unknown, index: number) => parseQueryVector(vector, `"vectors"[${index}]`));
    const dimensions = queries[0].length;
    const other = queries.findIndex((query) => query.length !== dimensions);
    if (other >= 0) throw invalid(`"vectors"[${other}] has ${queries[other].length} dimensions, "vectors"[0] has ${dimensions}`);
  } else {
    throw invalid('a query "vector" (a list of numbers) is required');
  }
  return { dataset, queries, ...parseSearchOptions(json) };
}

/** A VectorSearchByID body: `{"dataset", "id", "k"?, ...}`. */
export function parseSearchByIdRequest(json: JsonObject): SearchByIdRequest {
  const unknown = unknownKeys(json, SEARCH_BY_ID_KEYS);
  if (unknown.length > 0) throw invalid(`unknown field ${unknown.map((key) => `"${key}"`).join(', ')} (allowed: ${SEARCH_BY_ID_KEYS.join(', ')})`);
  const dataset = datasetField(json);
  const id = json.id;
  if (typeof id !== 'string' && typeof id !== 'number') throw invalid('"id" must be a number or a string');
  return { dataset, id, ...parseSearchOptions(json) };
}
