/**
 * JSON for request bodies and tickets. A bigint is written as a bare integer literal, so int64
 * ids and nanosecond timestamps reach the server exactly (it reads integers beyond 2^53 as
 * digit strings, never as rounded doubles).
 */

const BIGINT_MARK = '\u0000bigint:';

export function toJson(value: unknown): string {
  const text = JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? `${BIGINT_MARK}${item}` : item));
  if (text === undefined) throw new TypeError('value cannot be written as JSON');
  return text.includes('\\u0000bigint:') ? text.replace(/"\\u0000bigint:(-?\d+)"/g, '$1') : text;
}

const decoder = new TextDecoder();

/** Parses a DoAction result body (a JSON object). */
export function parseJsonBody<T>(body: Uint8Array): T {
  return JSON.parse(decoder.decode(body)) as T;
}

/** The object without its undefined entries (optional request fields left out). */
export function definedOnly(object: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
}
