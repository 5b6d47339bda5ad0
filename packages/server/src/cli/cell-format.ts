/**
 * Arrow cell values as JSON values and as text, for the CLI's CSV, JSON-lines and terminal
 * table output. int64 beyond 2^53 stays exact (a bigint, written as bare digits); times are
 * ISO-8601 in UTC; lists are JSON arrays; binary is base64.
 */
import { DataType, Vector, type Field } from 'apache-arrow';
import { toJson } from '@longbow/client';

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

function isoFromMs(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

/** A cell as a JSON-compatible value. */
export function jsonValue(value: unknown, type: DataType): JsonValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }
  if (DataType.isTimestamp(type) || DataType.isDate(type)) {
    // apache-arrow hands out timestamps and dates as epoch milliseconds, whatever the unit.
    return value instanceof Date ? value.toISOString() : isoFromMs(Number(value));
  }
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value instanceof Vector) {
    const childType = type.children?.[0]?.type ?? value.type;
    return Array.from(value, (item: unknown) => jsonValue(item, childType));
  }
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    const object = (value as { toJSON(): Record<string, unknown> }).toJSON();
    const out: Record<string, JsonValue> = {};
    const fields: Field[] = type.children ?? [];
    for (const [key, item] of Object.entries(object)) {
      out[key] = jsonValue(item, fields.find((field) => field.name === key)?.type ?? type);
    }
    return out;
  }
  return String(value);
}

/** JSON text of a JSON value (bigints as bare integers). */
export function jsonText(value: JsonValue): string {
  return toJson(value);
}

/** A cell as CSV text: empty for null, JSON for lists and structs. */
export function csvText(value: unknown, type: DataType): string {
  const json = jsonValue(value, type);
  if (json === null) return '';
  if (typeof json === 'string') return json;
  if (typeof json === 'object') return jsonText(json);
  return String(json);
}

function shortNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  const text = value.toPrecision(6);
  return text.includes('e') ? text : String(Number(text));
}

/** A cell for the terminal: numbers shortened, long lists and strings cut with their size shown. */
export function displayText(value: unknown, type: DataType, widthMax = 40): string {
  const json = jsonValue(value, type);
  if (json === null) return 'null';
  if (typeof json === 'number') return shortNumber(json);
  if (Array.isArray(json)) {
    const shown: string[] = [];
    let width = 2;
    for (const item of json) {
      const text = typeof item === 'number' ? shortNumber(item) : jsonText(item);
      if (width + text.length + 2 > widthMax - 8) break;
      shown.push(text);
      width += text.length + 2;
    }
    return shown.length === json.length ? `[${shown.join(', ')}]` : `[${shown.join(', ')}, …] (${json.length})`;
  }
  const text = typeof json === 'string' ? json : jsonText(json);
  const oneLine = text.replace(/[\r\n\t]/g, ' ');
  return oneLine.length > widthMax ? `${oneLine.slice(0, widthMax - 1)}…` : oneLine;
}
