/**
 * Control-plane JSON (tickets, actions, criteria): integer literals beyond 2^53 are quoted
 * before JSON.parse so that no digit is lost, and nothing else changes. The scanner works on
 * char codes; it is checked here against a plain regular-expression reference on generated
 * texts that mix strings (with escapes and digits inside), floats, exponents, negative numbers
 * and integers on both sides of 2^53.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJsonObject, quoteUnsafeIntegers } from '../src/service/json-body.ts';
import { seededRandom } from '../src/wal/faulty-file-layer.ts';

/** The reference: every number token found by a regex outside strings, quoted when unsafe. */
function referenceQuote(text: string): string {
  return text.replace(/"(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*/g, (token) => {
    if (token.startsWith('"')) return token;
    return /^-?\d+$/.test(token) && !Number.isSafeInteger(Number(token)) ? `"${token}"` : token;
  });
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

test('quoteUnsafeIntegers matches the regex reference on generated JSON', () => {
  const next = seededRandom(20261206);
  let quoted = 0;
  for (let i = 0; i < 3000; i++) {
    const text = generatedText(next);
    const expected = referenceQuote(text);
    assert.equal(quoteUnsafeIntegers(text), expected, `for ${text}`);
    if (expected !== text) quoted++;
  }
  assert.ok(quoted > 300, `only ${quoted} texts had an unsafe integer to quote`);
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
