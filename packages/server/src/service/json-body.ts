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

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
/** Integers of this many digits or fewer are always safe (2^53 has 16 digits). */
const SAFE_DIGITS = 15;

/**
 * Wraps integer literals beyond 2^53 in quotes so JSON.parse keeps every digit (int64 ids,
 * nanosecond timestamps); filters read digit strings as exact integers. Text inside strings
 * is left alone. Invalid JSON stays invalid. One pass over char codes, slicing only integers
 * long enough to be unsafe: a search ticket's 128 floats cost ~8 us, not ~45 (a regex test
 * per character).
 */
export function quoteUnsafeIntegers(text: string): string {
  let out = '';
  let last = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      for (i++; i < length; i++) {
        const inner = text.charCodeAt(i);
        if (inner === BACKSLASH) i++;
        else if (inner === QUOTE) break;
      }
      continue;
    }
    if (code !== MINUS && (code < ZERO || code > NINE)) continue;
    let end = i + 1;
    let integer = true;
    for (; end < length; end++) {
      const next = text.charCodeAt(end);
      if (next >= ZERO && next <= NINE) continue;
      if (next === DOT || next === LOWER_E || next === UPPER_E || next === PLUS || next === MINUS) integer = false;
      else break;
    }
    const digits = end - i - (code === MINUS ? 1 : 0);
    if (integer && digits > SAFE_DIGITS) {
      const literal = text.slice(i, end);
      if (/^-?\d+$/.test(literal) && !Number.isSafeInteger(Number(literal))) {
        out += `${text.slice(last, i)}"${literal}"`;
        last = end;
      }
    }
    i = end - 1;
  }
  return last === 0 ? text : out + text.slice(last);
}
