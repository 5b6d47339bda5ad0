/**
 * ListFlights criteria: empty, or JSON `{"filters":[{"field","op","value"}]}` over `name`
 * (= != contains) and `rows` (= > < >= <=).
 */
import { longbowError } from '../errors.ts';
import { parseFilters, type Filter } from '../store/filters.ts';
import { parseJsonObject, unknownKeys, utf8Text } from './json-body.ts';

export interface FlightSummary {
  name: string;
  rows: number;
}

export type FlightPredicate = (flight: FlightSummary) => boolean;

function namePredicate(filter: Filter): FlightPredicate {
  if (typeof filter.value !== 'string') throw longbowError('INVALID_CRITERIA', '"name" filters need a string value');
  const value = filter.value;
  switch (filter.op) {
    case 'eq': return (flight) => flight.name === value;
    case 'neq': return (flight) => flight.name !== value;
    case 'contains': return (flight) => flight.name.includes(value);
    default: throw longbowError('INVALID_CRITERIA', `"name" supports = != contains, not ${filter.op}`);
  }
}

function rowsPredicate(filter: Filter): FlightPredicate {
  const value = typeof filter.value === 'string' && filter.value.trim() !== '' ? Number(filter.value) : filter.value;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw longbowError('INVALID_CRITERIA', '"rows" filters need a number');
  switch (filter.op) {
    case 'eq': return (flight) => flight.rows === value;
    case 'gt': return (flight) => flight.rows > value;
    case 'lt': return (flight) => flight.rows < value;
    case 'ge': return (flight) => flight.rows >= value;
    case 'le': return (flight) => flight.rows <= value;
    default: throw longbowError('INVALID_CRITERIA', `"rows" supports = > < >= <=, not ${filter.op}`);
  }
}

export function parseCriteria(expression: Uint8Array): FlightPredicate {
  if (expression.byteLength === 0) return () => true;
  const text = utf8Text(expression);
  if (text === undefined) throw longbowError('INVALID_CRITERIA', 'not valid UTF-8');
  if (text.trim() === '') return () => true;
  const parsed = parseJsonObject(text);
  if (!parsed.ok) throw longbowError('INVALID_CRITERIA', `${parsed.reason}; expected {"filters":[...]}`);
  const unknown = unknownKeys(parsed.value, ['filters']);
  if (unknown.length > 0) throw longbowError('INVALID_CRITERIA', `unknown field "${unknown[0]}" (expected {"filters":[...]})`);
  let filters: Filter[];
  try {
    filters = parseFilters(parsed.value.filters);
  } catch (error) {
    throw longbowError('INVALID_CRITERIA', (error as Error).message);
  }
  const predicates = filters.map((filter) => {
    if (filter.field === 'name') return namePredicate(filter);
    if (filter.field === 'rows') return rowsPredicate(filter);
    throw longbowError('INVALID_CRITERIA', `unknown field "${filter.field}" (use name or rows)`);
  });
  return (flight) => predicates.every((predicate) => predicate(flight));
}
