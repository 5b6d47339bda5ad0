/**
 * DoGet tickets: a raw UTF-8 dataset name, or JSON
 * `{"name"|"dataset": str, "limit"?: int, "filters"?: [...], "columns"?: [str], "search"?: {...}}`.
 */
import { longbowError } from '../errors.ts';
import { parseFilters, type Filter } from '../store/filters.ts';
import { parseJsonObject, unknownKeys, utf8Text } from './json-body.ts';

export interface ScanTicket {
  kind: 'scan';
  dataset: string;
  filters: Filter[];
  columns?: string[];
  limit?: number;
}

export interface SearchTicket {
  kind: 'search';
  search: Record<string, unknown>;
}

export type ParsedTicket = ScanTicket | SearchTicket;

const TICKET_KEYS = ['name', 'dataset', 'limit', 'filters', 'columns', 'search'] as const;

export function parseTicket(bytes: Uint8Array): ParsedTicket {
  const text = utf8Text(bytes);
  if (text === undefined) throw longbowError('INVALID_TICKET', 'not valid UTF-8');
  if (text.length === 0) throw longbowError('INVALID_TICKET', 'empty ticket (expected a dataset name or a JSON object)');
  if (!text.trimStart().startsWith('{')) return { kind: 'scan', dataset: text, filters: [] };

  const parsed = parseJsonObject(text);
  if (!parsed.ok) throw longbowError('INVALID_TICKET', parsed.reason);
  const json = parsed.value;
  const unknown = unknownKeys(json, TICKET_KEYS);
  if (unknown.length > 0) {
    throw longbowError('INVALID_TICKET', `unknown field ${unknown.map((key) => `"${key}"`).join(', ')} (allowed: ${TICKET_KEYS.join(', ')})`);
  }
  if (json.search !== undefined) {
    if (typeof json.search !== 'object' || json.search === null || Array.isArray(json.search)) {
      throw longbowError('INVALID_TICKET', '"search" must be an object');
    }
    const search = { ...(json.search as Record<string, unknown>) };
    // The dataset may also be named beside "search", as in a scan ticket.
    if (search.dataset === undefined && search.name === undefined) search.dataset = json.name ?? json.dataset;
    return { kind: 'search', search };
  }
  const dataset = json.name ?? json.dataset;
  if (typeof dataset !== 'string' || dataset === '') throw longbowError('INVALID_TICKET', '"name" (or "dataset") must be a non-empty string');
  const ticket: ScanTicket = { kind: 'scan', dataset, filters: parseFilters(json.filters) };
  if (json.limit !== undefined) {
    if (typeof json.limit !== 'number' || !Number.isSafeInteger(json.limit) || json.limit < 0) {
      throw longbowError('INVALID_TICKET', '"limit" must be a non-negative integer');
    }
    ticket.limit = json.limit;
  }
  if (json.columns !== undefined) {
    if (!Array.isArray(json.columns) || !json.columns.every((column) => typeof column === 'string')) {
      throw longbowError('INVALID_TICKET', '"columns" must be a list of column names');
    }
    ticket.columns = json.columns as string[];
  }
  return ticket;
}
