/**
 * Filters as the server reads them (docs/protocol.md, "The filter language"): a list combined
 * with AND. The client also takes an object `{column: value}` as a list of equalities.
 */

/** Operators the server accepts (case-insensitive on the wire). */
export type FilterOp =
  | '=' | '==' | 'eq' | '!=' | 'neq' | '>' | 'gt' | '<' | 'lt' | '>=' | 'ge' | '<=' | 'le' | 'contains';

/** A filter value: strings, numbers, booleans; bigints are sent exactly; Dates as ISO-8601. */
export type FilterValue = string | number | bigint | boolean | Date;

export interface Filter {
  field: string;
  op: FilterOp;
  value: FilterValue;
}

/** A list of filters, or `{column: value}` meaning `column = value` for each entry. */
export type Filters = readonly Filter[] | Readonly<Record<string, FilterValue>>;

export interface WireFilter {
  field: string;
  op: string;
  value: string | number | bigint | boolean;
}

export function toWireFilters(filters: Filters | undefined): WireFilter[] | undefined {
  if (filters === undefined) return undefined;
  const list: readonly Filter[] = Array.isArray(filters)
    ? filters as readonly Filter[]
    : Object.entries(filters).map(([field, value]) => ({ field, op: '=' as const, value: value as FilterValue }));
  return list.map((filter) => ({ field: filter.field, op: filter.op, value: wireValue(filter.value) }));
}

function wireValue(value: FilterValue): string | number | bigint | boolean {
  return value instanceof Date ? value.toISOString() : value;
}

const OP_WORDS = ['>=', '<=', '!=', '==', '=', '>', '<'] as const;

/**
 * Parses `price>=10`, `label = books` or `name contains foo` (the CLI form). Numbers stay
 * numbers, `true`/`false` booleans; quote a value (`label="42"`) to keep it a string.
 */
export function parseFilterExpression(text: string): Filter {
  const contains = /^\s*([^\s=!<>]+)\s+contains\s+(.*)$/i.exec(text);
  if (contains) return { field: contains[1], op: 'contains', value: parseLiteral(contains[2].trim()) };
  for (const op of OP_WORDS) {
    const index = text.indexOf(op);
    if (index <= 0) continue;
    const field = text.slice(0, index).trim();
    if (field === '' || /[=!<>]/.test(field)) continue;
    return { field, op, value: parseLiteral(text.slice(index + op.length).trim()) };
  }
  throw new TypeError(`cannot read filter "${text}" (expected e.g. price>=10, label=books or "name contains foo")`);
}

function parseLiteral(text: string): FilterValue {
  if (text.length >= 2 && (text[0] === '"' || text[0] === "'") && text.endsWith(text[0])) return text.slice(1, -1);
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (/^-?\d+$/.test(text)) {
    const big = BigInt(text);
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(text) : big;
  }
  if (/^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) return Number(text);
  return text;
}
