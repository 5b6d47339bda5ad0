/** Parsing JSON control documents (tickets, criteria, action bodies) with size and shape checks. */
import { CONTROL_JSON_BYTES_MAX } from '../limits.ts';

export type JsonObject = Record<string, unknown>;

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Bytes as UTF-8 text, or undefined when they are not valid UTF-8. */
export function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Parses a JSON object. Returns { ok: false, reason } instead of throwing so each caller can
 * raise its own error code.
 */
export function parseJsonObject(text: string): { ok: true; value: JsonObject } | { ok: false; reason: string } {
  if (Buffer.byteLength(text, 'utf8') > CONTROL_JSON_BYTES_MAX) return { ok: false, reason: `larger than ${CONTROL_JSON_BYTES_MAX} bytes` };
  let value: unknown;
  try {
    value = JSON.parse(quoteUnsafeIntegers(text));
  } catch (error) {
    return { ok: false, reason: `bad JSON (${(error as Error).message})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'expected a JSON object' };
  return { ok: true, value: value as JsonObject };
}

/** Keys of `object` that are not in `allowed`. */
export function unknownKeys(object: JsonObject, allowed: readonly string[]): string[] {
  return Object.keys(object).filter((key) => !allowed.includes(key));
}

/**
 * Wraps integer literals beyond 2^53 in quotes so JSON.parse keeps every digit (int64 ids,
 * nanosecond timestamps); filters read digit strings as exact integers. Text inside strings
 * is left alone. Invalid JSON stays invalid.
 */
export function quoteUnsafeIntegers(text: string): string {
  let out = '';
  let last = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === '\\') i++;
      else if (char === '"') inString = false;
      continue;
    }
    if (char === '"') {
      inString = true;
      continue;
    }
    if (char !== '-' && (char < '0' || char > '9')) continue;
    let end = i + 1;
    while (end < text.length && /[0-9.eE+-]/.test(text[end])) end++;
    const literal = text.slice(i, end);
    if (/^-?\d+$/.test(literal) && !Number.isSafeInteger(Number(literal))) {
      out += `${text.slice(last, i)}"${literal}"`;
      last = end;
    }
    i = end - 1;
  }
  return last === 0 ? text : out + text.slice(last);
}
