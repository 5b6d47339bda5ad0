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
    value = JSON.parse(text);
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
