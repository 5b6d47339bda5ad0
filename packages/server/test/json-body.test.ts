/**
 * Control-plane JSON (tickets, actions, criteria): integer literals beyond 2^53 are quoted
 * before JSON.parse so that no digit is lost, and nothing else changes. The scanner works on
 * char codes; it is checked here against the earlier regex-per-character implementation on
 * generated JSON (strings with escapes and digits inside, floats, exponents, negative numbers,
 * integers on both sides of 2^53) and on noise that is not JSON.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJsonObject, quoteUnsafeIntegers } from '../src/service/json-body.ts';
import { seededRandom } from '../src/wal/faulty-file-layer.ts';

/**
 * The reference: the earlier implementation (a regex test per character), whose output the
 * scanner must reproduce for every input, JSON or not.
 */
function referenceQuote(text: string): string {
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

/** Not JSON: runs of quotes, backslashes, signs, dots, exponents, digits and letters. */
function noiseText(next: () => number): string {
  const pieces = ['"', '\\', '-', '+', '.', 'e', 'E', ' ', 'x', '{', ':', ',', '9007199254740993', '12345678901234567890', '0', '7'];
  return Array.from({ length: 1 + Math.floor(next() * 30) }, () => pieces[Math.floor(next() * pieces.length)]).join('');
}

function generatedText(next: () => number): string {
  const pick = <T>(items: T[]): T => items[Math.floor(next() * items.length)];
  const digits = (count: number) => Array.from({ length: count }, () => Math.floor(next() * 10)).join('');
  const value = (depth: number): string => {
    switch (Math.floor(next() * (depth > 2 ? 6 : 8))) {
      case 0: return digits(1 + Math.floor(next() * 22)); // integers from 1 to 22 digits
      case 1: return `-${digits(1 + Math.floor(next() * 22))}`;
      case 2: return `${next() < 0.5 ? '-' : ''}${digits(1 + Math.floor(next() * 4))}.${digits(1 + Math.floor(next() * 20))}`;
      case 3: return `${digits(1 + Math.floor(next() * 3))}${pick(['e', 'E'])}${pick(['', '+', '-'])}${digits(1 + Math.floor(next() * 3))}`;
      case 4: return JSON.stringify(pick(['plain', 'with "quotes" 12345678901234567890', 'back\\slash -9007199254740993', 'x" 12345678901234567890 "y', '', 'tab\t1e5']));
      case 5: return pick(['true', 'false', 'null', String(2 ** 53), String(-(2 ** 53)), '9007199254740993', '0.1']);
      case 6: return `[${Array.from({ length: Math.floor(next() * 5) }, () => value(depth + 1)).join(', ')}]`;
      default: return `{${Array.from({ length: Math.floor(next() * 4) }, (_, i) => `"k${i}": ${value(depth + 1)}`).join(',')}}`;
    }
  };
  return `{"root": ${value(0)}}`;
}

/** Checks `count` texts from `make` against the reference; returns how many it changed. */
function checkAgainstReference(make: () => string, count: number): number {
  let changed = 0;
  for (let i = 0; i < count; i++) {
    const text = make();
    const expected = referenceQuote(text);
    assert.equal(quoteUnsafeIntegers(text), expected, `for ${text}`);
    if (expected !== text) changed++;
  }
  return changed;
}

test('quoteUnsafeIntegers matches the earlier implementation on generated JSON and on noise', () => {
  const next = seededRandom(20261206);
  const quoted = checkAgainstReference(() => generatedText(next), 3000);
  assert.ok(quoted > 300, `only ${quoted} JSON texts had an unsafe integer to quote`);
  const changed = checkAgainstReference(() => noiseText(next), 20_000);
  assert.ok(changed > 1000, `only ${changed} noise texts had something to quote`);
});

test('unsafe integers keep every digit; safe ones, floats and strings are untouched', () => {
  const parsed = parseJsonObject('{"a":9007199254740993,"b":-12345678901234567890,"c":9007199254740991,"d":1.5e300,"e":"9007199254740993","f":123456789012345.5}');
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.value, {
    a: '9007199254740993', b: '-12345678901234567890', c: 9007199254740991, d: 1.5e300, e: '9007199254740993', f: 123456789012345.5,
  });
  for (const bad of ['{"a": 90071992547409930', '{"a": "unterminated 9007199254740993}', '{"a": 1}}']) {
    assert.equal(parseJsonObject(bad).ok, false, bad);
  }
});
