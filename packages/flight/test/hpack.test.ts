/**
 * The HPACK codec: the RFC 7541 Appendix C examples (dynamic table carried across blocks, with
 * and without Huffman coding, evictions in a 256-byte table), round trips through the
 * stateless encoder, and malformed blocks that must fail with HpackError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeHeaders, HpackDecoder, HpackError } from '../src/http2/hpack.ts';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from '../src/http2/hpack-huffman.ts';

type Headers = Array<[string, string]>;

/** Bytes from hex, spaces allowed. */
function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** A test-only Huffman encoder, straight from the Appendix B table. */
function huffmanEncode(bytes: Uint8Array): Uint8Array {
  let bits = '';
  for (const b of bytes) bits += HUFFMAN_CODES[b].toString(2).padStart(HUFFMAN_LENGTHS[b], '0');
  bits += '1'.repeat((8 - (bits.length % 8)) % 8); // pad with the start of EOS
  const out = new Uint8Array(bits.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2);
  return out;
}

/** A string literal's first bytes: the H flag and the length as a 7-bit-prefix integer. */
function stringLength(length: number, huffman: boolean): number[] {
  const flag = huffman ? 0x80 : 0;
  if (length < 0x7f) return [flag | length];
  const out = [flag | 0x7f];
  let rest = length - 0x7f;
  for (; rest >= 0x80; rest = Math.floor(rest / 0x80)) out.push((rest % 0x80) | 0x80);
  out.push(rest);
  return out;
}

function assertHpackError(decoder: HpackDecoder, block: Uint8Array, message: RegExp): void {
  assert.throws(() => decoder.decode(block), (err: unknown) => {
    assert.ok(err instanceof HpackError, `expected HpackError, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

interface Step {
  block: string;
  headers: Headers;
  /** Dynamic table afterwards, newest first, and its size. */
  table: Headers;
  size: number;
}

function runSteps(decoder: HpackDecoder, steps: Step[]): void {
  steps.forEach((step, i) => {
    assert.deepEqual(decoder.decode(hex(step.block)), step.headers, `block ${i + 1}`);
    assert.deepEqual(decoder.dynamicTableEntries(), step.table, `table after block ${i + 1}`);
    assert.equal(decoder.dynamicTableSize, step.size, `table size after block ${i + 1}`);
  });
}

test('C.2.1 literal header field with indexing', () => {
  const decoder = new HpackDecoder();
  const block = hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572');
  assert.deepEqual(decoder.decode(block), [['custom-key', 'custom-header']]);
  assert.deepEqual(decoder.dynamicTableEntries(), [['custom-key', 'custom-header']]);
  assert.equal(decoder.dynamicTableSize, 55);
});

test('C.2.2 literal header field without indexing', () => {
  const decoder = new HpackDecoder();
  assert.deepEqual(decoder.decode(hex('040c 2f73 616d 706c 652f 7061 7468')), [[':path', '/sample/path']]);
  assert.deepEqual(decoder.dynamicTableEntries(), []);
  assert.equal(decoder.dynamicTableSize, 0);
});

test('C.2.3 literal header field never indexed', () => {
  const decoder = new HpackDecoder();
  assert.deepEqual(decoder.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), [['password', 'secret']]);
  assert.equal(decoder.dynamicTableSize, 0);
});

test('C.2.4 indexed header field', () => {
  const decoder = new HpackDecoder();
  assert.deepEqual(decoder.decode(hex('82')), [[':method', 'GET']]);
  assert.equal(decoder.dynamicTableSize, 0);
});

const REQUEST_HEADERS: Headers[] = [
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
  [
    [':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'],
    ['cache-control', 'no-cache'],
  ],
  [
    [':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'],
    ['custom-key', 'custom-value'],
  ],
];
const REQUEST_TABLES: Array<{ table: Headers; size: number }> = [
  { table: [[':authority', 'www.example.com']], size: 57 },
  { table: [['cache-control', 'no-cache'], [':authority', 'www.example.com']], size: 110 },
  {
    table: [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
    size: 164,
  },
];

function requestSteps(blocks: string[]): Step[] {
  return blocks.map((block, i) => ({ block, headers: REQUEST_HEADERS[i], ...REQUEST_TABLES[i] }));
}

test('C.3 requests without Huffman coding share one dynamic table', () => {
  runSteps(new HpackDecoder(), requestSteps([
    '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '8286 84be 5808 6e6f 2d63 6163 6865',
    '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
  ]));
});

test('C.4 requests with Huffman coding share one dynamic table', () => {
  runSteps(new HpackDecoder(), requestSteps([
    '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
    '8286 84be 5886 a8eb 1064 9cbf',
    '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
  ]));
});

const DATE_21 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE_22 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOCATION = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESPONSE_HEADERS: Headers[] = [
  [[':status', '302'], ['cache-control', 'private'], ['date', DATE_21], ['location', LOCATION]],
  [[':status', '307'], ['cache-control', 'private'], ['date', DATE_21], ['location', LOCATION]],
  [
    [':status', '200'], ['cache-control', 'private'], ['date', DATE_22], ['location', LOCATION],
    ['content-encoding', 'gzip'], ['set-cookie', COOKIE],
  ],
];
const RESPONSE_TABLES: Array<{ table: Headers; size: number }> = [
  {
    table: [['location', LOCATION], ['date', DATE_21], ['cache-control', 'private'], [':status', '302']],
    size: 222,
  },
  {
    table: [[':status', '307'], ['location', LOCATION], ['date', DATE_21], ['cache-control', 'private']],
    size: 222,
  },
  { table: [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE_22]], size: 215 },
];

function responseSteps(blocks: string[]): Step[] {
  return blocks.map((block, i) => ({ block, headers: RESPONSE_HEADERS[i], ...RESPONSE_TABLES[i] }));
}

test('C.5 responses without Huffman coding evict from a 256-byte table', () => {
  runSteps(new HpackDecoder(256), responseSteps([
    '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a ' +
      '3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '4803 3330 37c1 c0bf',
    '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 ' +
      '677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 ' +
      '553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
  ]));
});

test('C.6 responses with Huffman coding evict from a 256-byte table', () => {
  runSteps(new HpackDecoder(256), responseSteps([
    '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e ' +
      '919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
    '4883 640e ffc1 c0bf',
    '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 ' +
      '821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed ' +
      '4ee5 b106 3d50 07',
  ]));
});

test('Huffman strings decode: the RFC examples and every byte value', () => {
  const decoder = new HpackDecoder();
  // Literal without indexing, new name, both strings Huffman-coded.
  const custom = hex('00 88 25a849e95ba97d7f 89 25a849e95bb8e8b4bf');
  assert.deepEqual(decoder.decode(custom), [['custom-key', 'custom-value']]);
  // :authority (index 1) and cache-control (index 24, a 4-bit prefix overflowing into a second byte).
  const indexedNames = hex('01 8c f1e3c2e5f23a6ba0ab90f4ff 0f09 86 a8eb10649cbf');
  assert.deepEqual(decoder.decode(indexedNames), [[':authority', 'www.example.com'], ['cache-control', 'no-cache']]);
  assert.equal(toHex(huffmanEncode(Buffer.from('www.example.com'))), 'f1e3c2e5f23a6ba0ab90f4ff');

  // All 256 byte values, including the long codes; the table counts octets, not UTF-16 units.
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const coded = huffmanEncode(all);
  const block = Uint8Array.of(0x40, 0x01, 0x78, ...stringLength(coded.length, true), ...coded);
  assert.deepEqual(decoder.decode(block), [['x', new TextDecoder().decode(all)]]);
  assert.equal(decoder.dynamicTableSize, 1 + 256 + 32);
});

test('table sizes count UTF-8 octets and oversized entries empty the table', () => {
  const decoder = new HpackDecoder(64);
  const value = Buffer.from('héllo'); // 6 octets, 5 characters
  decoder.decode(Uint8Array.of(0x40, 0x01, 0x61, value.length, ...value));
  assert.deepEqual(decoder.dynamicTableEntries(), [['a', 'héllo']]);
  assert.equal(decoder.dynamicTableSize, 1 + 6 + 32);
  // A 33-byte value makes a 66-byte entry, bigger than the whole table: nothing is left.
  decoder.decode(Uint8Array.of(0x40, 0x01, 0x62, 33, ...Buffer.from('v'.repeat(33))));
  assert.deepEqual(decoder.dynamicTableEntries(), []);
  assert.equal(decoder.dynamicTableSize, 0);
});

test('a literal may name the entry that its own insertion evicts', () => {
  const decoder = new HpackDecoder(60);
  decoder.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
  assert.equal(decoder.dynamicTableSize, 55);
  // Incremental indexing, name = index 62 (custom-key), value "x": 43 bytes, so 62 must go first.
  assert.deepEqual(decoder.decode(hex('7e 01 78')), [['custom-key', 'x']]);
  assert.deepEqual(decoder.dynamicTableEntries(), [['custom-key', 'x']]);
  assert.equal(decoder.dynamicTableSize, 43);
});

test('dynamic table size updates resize and evict', () => {
  const decoder = new HpackDecoder();
  decoder.decode(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'));
  decoder.decode(hex('8286 84be 5808 6e6f 2d63 6163 6865'));
  assert.equal(decoder.dynamicTableSize, 110);
  // 3f e1 1f = 4096 (the maximum, multi-byte), then 20 = 0 evicts everything, in one block.
  assert.deepEqual(decoder.decode(hex('3fe11f 20 82')), [[':method', 'GET']]);
  assert.deepEqual(decoder.dynamicTableEntries(), []);
  // Back up to 64 (3f 21): one 57-byte entry fits, a second evicts it.
  decoder.decode(hex('3f21 41 0f 7777772e6578616d706c652e636f6d'));
  decoder.decode(hex('41 0f 7777772e6578616d706c652e6f7267'));
  assert.deepEqual(decoder.dynamicTableEntries(), [[':authority', 'www.example.org']]);
});

test('encodeHeaders writes literals without indexing, names by static index', () => {
  assert.equal(toHex(encodeHeaders([[':method', 'GET']])), '0203474554');
  assert.equal(toHex(encodeHeaders([['user-agent', 'x']])), '0f2b0178'); // index 58 = 15 + 43
  assert.equal(toHex(encodeHeaders([['te', 'trailers']])), '000274650874726169' + '6c657273');
  assert.equal(toHex(encodeHeaders([['a', 'b'.repeat(127)]]).subarray(3, 5)), '7f00');
  assert.equal(toHex(encodeHeaders([['a', 'b'.repeat(1337)]]).subarray(3, 6)), '7fba09');
  assert.equal(encodeHeaders([]).length, 0);
});

test('encodeHeaders round-trips through HpackDecoder without touching its table', () => {
  const headers: Headers = [
    [':method', 'POST'],
    [':scheme', 'https'],
    [':path', '/arrow.flight.protocol.FlightService/DoGet'],
    [':authority', 'localhost:8815'],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
    ['grpc-timeout', '5S'],
    ['user-agent', 'longbow-client/0.1.0'],
    ['authorization', 'Bearer ' + 'k'.repeat(200)],
    ['x-empty', ''],
    ['x-boundary-126', 'a'.repeat(126)],
    ['x-boundary-127', 'a'.repeat(127)],
    ['x-boundary-128', 'a'.repeat(128)],
    ['x-' + 'n'.repeat(150), 'long name'],
    ['x-large', 'z'.repeat(20000)],
    ['x-utf8', 'héllo wörld — 日本語 🚀'],
    ['cookie', 'a=1'],
    ['cookie', 'b=2'],
  ];
  const decoder = new HpackDecoder();
  assert.deepEqual(decoder.decode(encodeHeaders(headers)), headers);
  assert.equal(decoder.dynamicTableSize, 0);
  assert.deepEqual(decoder.decode(encodeHeaders(headers.slice(0, 3))), headers.slice(0, 3));
});

test('malformed indexes fail', () => {
  assertHpackError(new HpackDecoder(), hex('80'), /index 0/);
  assertHpackError(new HpackDecoder(), hex('be'), /beyond the tables/); // 62, table empty
  assertHpackError(new HpackDecoder(), hex('7e 01 78'), /beyond the tables/); // literal naming 62
  assertHpackError(new HpackDecoder(), hex('ff ff 7f'), /beyond the tables/); // a large index
  assert.deepEqual(new HpackDecoder().decode(hex('bd')), [['www-authenticate', '']]); // 61 is fine
});

test('malformed integers fail', () => {
  assertHpackError(new HpackDecoder(), hex('ff'), /truncated integer/);
  assertHpackError(new HpackDecoder(), hex('ff 80 80'), /truncated integer/);
  assertHpackError(new HpackDecoder(), hex('ff ff ff ff ff 0f'), /overflow/); // about 2^32
  assertHpackError(new HpackDecoder(), hex('ff 80 80 80 80 80 00'), /overflow/); // too many bytes
  assertHpackError(new HpackDecoder(), hex('00 7f ff ff ff ff 0f'), /overflow/); // string length
});

test('malformed string literals fail', () => {
  assertHpackError(new HpackDecoder(), hex('00 05 6162'), /past the end/);
  assertHpackError(new HpackDecoder(), hex('00 7f 80 01 61'), /past the end/); // 255 bytes claimed
  assertHpackError(new HpackDecoder(), hex('00 01 61'), /truncated string/); // no value
  assertHpackError(new HpackDecoder(), hex('00'), /truncated string/);
});

test('bad Huffman padding and EOS fail', () => {
  // "no-cache" with a whole extra byte of 1s: 13 bits of padding.
  assertHpackError(new HpackDecoder(), hex('0f09 87 a8eb10649cbfff'), /longer than 7 bits/);
  assertHpackError(new HpackDecoder(), hex('00 81 ff 00'), /longer than 7 bits/);
  // "no-cache" padded with 11110 instead of 11111.
  assertHpackError(new HpackDecoder(), hex('0f09 86 a8eb10649cbe'), /not a prefix of EOS/);
  assertHpackError(new HpackDecoder(), hex('00 81 00 00'), /not a prefix of EOS/); // "0" then 000
  // 32 ones: the 30-bit EOS symbol itself.
  assertHpackError(new HpackDecoder(), hex('00 84 ffffffff 00'), /EOS symbol/);
  // "a" (00011) then EOS, then 5 bits of padding.
  assertHpackError(new HpackDecoder(), hex('00 85 1fffffffff 00'), /EOS symbol/);
});

test('bad dynamic table size updates fail', () => {
  assertHpackError(new HpackDecoder(), hex('3fe21f'), /exceeds the maximum/); // 4097
  assertHpackError(new HpackDecoder(256), hex('3fe201'), /exceeds the maximum/); // 257
  assert.deepEqual(new HpackDecoder(256).decode(hex('3fe101 82')), [[':method', 'GET']]); // 256
  assertHpackError(new HpackDecoder(0), hex('21'), /exceeds the maximum/);
  assertHpackError(new HpackDecoder(), hex('82 20'), /after a header field/);
});

test('a decoder that failed refuses later blocks', () => {
  const decoder = new HpackDecoder();
  assertHpackError(decoder, hex('80'), /index 0/);
  assertHpackError(decoder, hex('82'), /unusable/);
});
