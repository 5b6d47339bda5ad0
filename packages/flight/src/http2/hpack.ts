/**
 * HPACK (RFC 7541), the HTTP/2 header compression: a full decoder and a small stateless encoder.
 *
 * Why our own: our HTTP/2 connections (client and server, see connection.ts) have to read the
 * peer's headers and trailers, which arrive Huffman-coded and indexed into a dynamic table that
 * lives as long as the connection. One HpackDecoder per connection, fed every header block in
 * the order received. What we send is few and small headers, so the encoder never indexes and
 * never Huffman-codes, and so leaves the peer's decoder table untouched.
 *
 * Strings are UTF-8 both ways (bytes that are not valid UTF-8 decode to U+FFFD); table sizes
 * count the bytes on the wire, as RFC 7541 4.1 says.
 */
import { HUFFMAN_CODES, HUFFMAN_EOS, HUFFMAN_LENGTHS } from './hpack-huffman.ts';

/** A header block that breaks RFC 7541 (in HTTP/2 terms, a COMPRESSION_ERROR). */
export class HpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HpackError';
  }
}

/** RFC 7541 4.1: the size of an entry is its name and value octets plus 32. */
const ENTRY_OVERHEAD = 32;

/** A header field as held in a table. */
interface Field {
  name: string;
  value: string;
  nameOctets: number;
  /** The entry's size in the dynamic table: name and value octets + 32. */
  size: number;
}

/** RFC 7541 Appendix A; index 1 is the first entry. */
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'],
  [':path', '/index.html'], [':scheme', 'http'], [':scheme', 'https'], [':status', '200'],
  [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'],
  [':status', '404'], [':status', '500'], ['accept-charset', ''], ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''], ['accept-ranges', ''], ['accept', ''], ['access-control-allow-origin', ''],
  ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''],
  ['date', ''], ['etag', ''], ['expect', ''], ['expires', ''],
  ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''],
  ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''],
  ['retry-after', ''], ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''],
  ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

/** The static table as fields, ready for lookups. */
const STATIC_FIELDS: readonly Field[] = STATIC_TABLE.map(([name, value]) => ({
  name,
  value,
  nameOctets: name.length, // all ASCII
  size: name.length + value.length + ENTRY_OVERHEAD,
}));

/** Static-table index of each name's first entry, for the encoder. */
const STATIC_NAME_INDEX = new Map<string, number>();
STATIC_TABLE.forEach(([name], i) => {
  if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, i + 1);
});

/** Integers larger than this (far above any sane length or index) are rejected as overflow. */
const INTEGER_MAX = 0x7fffffff;
/** Continuation bytes allowed after the prefix: 5 carry 35 bits, already more than INTEGER_MAX. */
const INTEGER_CONTINUATIONS_MAX = 5;

const utf8Decoder = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Huffman decoding (RFC 7541 5.2, Appendix B)

/**
 * The Huffman code as a binary tree in a flat array: HUFFMAN_TREE[node * 2 + bit] is the child
 * reached by that bit, a positive internal node (the root is node 0, never a child) or
 * -(symbol + 1) for a leaf. Built once, and checked to be a complete prefix code.
 */
const HUFFMAN_TREE = buildHuffmanTree();

function buildHuffmanTree(): Int16Array {
  const tree = new Int16Array(2 * HUFFMAN_EOS); // 257 leaves need 256 internal nodes
  let nodes = 1;
  for (let sym = 0; sym <= HUFFMAN_EOS; sym++) {
    const code = HUFFMAN_CODES[sym];
    const length = HUFFMAN_LENGTHS[sym];
    let node = 0;
    for (let bit = length - 1; bit >= 0; bit--) {
      const slot = node * 2 + ((code >>> bit) & 1);
      if (bit === 0) {
        if (tree[slot] !== 0) throw new Error(`HPACK Huffman table: code of symbol ${sym} collides`);
        tree[slot] = -(sym + 1);
      } else {
        if (tree[slot] < 0) throw new Error(`HPACK Huffman table: code of symbol ${sym} collides`);
        if (tree[slot] === 0) tree[slot] = nodes++;
        node = tree[slot];
      }
    }
  }
  if (nodes !== HUFFMAN_EOS || tree.includes(0)) throw new Error('HPACK Huffman table is not a complete code');
  return tree;
}

/** Decodes a Huffman-coded string literal to its octets. */
function huffmanDecode(src: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(Math.floor(((end - start) * 8) / 5)); // the shortest code has 5 bits
  let length = 0;
  let node = 0;
  let pendingBits = 0; // bits read since the last whole symbol
  let pendingOnes = true; // and whether all of them were 1s
  for (let i = start; i < end; i++) {
    const byte = src[i];
    for (let shift = 7; shift >= 0; shift--) {
      const bit = (byte >> shift) & 1;
      const next = HUFFMAN_TREE[node * 2 + bit];
      if (next > 0) {
        node = next;
        pendingBits++;
        if (bit === 0) pendingOnes = false;
        continue;
      }
      const sym = -next - 1;
      if (sym === HUFFMAN_EOS) throw new HpackError('Huffman string contains the EOS symbol');
      out[length++] = sym;
      node = 0;
      pendingBits = 0;
      pendingOnes = true;
    }
  }
  // What is left must be padding: the start of EOS (all 1s), and shorter than a byte.
  if (pendingBits > 7) throw new HpackError('Huffman padding longer than 7 bits');
  if (!pendingOnes) throw new HpackError('Huffman padding is not a prefix of EOS');
  return out.subarray(0, length);
}

// ---------------------------------------------------------------------------------------------
// Decoder

/** Reads one header block; `pos` moves along it. */
class BlockReader {
  pos = 0;
  constructor(readonly block: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.block.length;
  }

  /** An integer with an N-bit prefix (RFC 7541 5.1), starting at the current byte. */
  integer(prefixBits: number): number {
    const mask = (1 << prefixBits) - 1;
    let value = this.block[this.pos++] & mask;
    if (value < mask) return value;
    for (let i = 0; i < INTEGER_CONTINUATIONS_MAX; i++) {
      if (this.done) throw new HpackError('truncated integer');
      const byte = this.block[this.pos++];
      value += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) {
        if (value > INTEGER_MAX) throw new HpackError('integer overflow');
        return value;
      }
    }
    throw new HpackError('integer overflow');
  }

  /** A string literal (RFC 7541 5.2): its text and its length in octets. */
  string(): { text: string; octets: number } {
    if (this.done) throw new HpackError('truncated string literal');
    const huffman = (this.block[this.pos] & 0x80) !== 0;
    const length = this.integer(7);
    const end = this.pos + length;
    if (end > this.block.length) throw new HpackError('string literal runs past the end of the block');
    const bytes = huffman ? huffmanDecode(this.block, this.pos, end) : this.block.subarray(this.pos, end);
    this.pos = end;
    return { text: utf8Decoder.decode(bytes), octets: bytes.length };
  }
}

/** Decodes the header blocks of one HTTP/2 connection, in order, keeping its dynamic table. */
export class HpackDecoder {
  /** Newest entry last; dynamic index 1 (overall 62) is the newest. */
  private readonly entries: Field[] = [];
  private tableBytes = 0;
  private maxBytes: number;
  private failed = false;

  /** @param maxTableBytes our SETTINGS_HEADER_TABLE_SIZE: the most the server may size the table to. */
  constructor(private readonly maxTableBytes = 4096) {
    if (!Number.isSafeInteger(maxTableBytes) || maxTableBytes < 0) {
      throw new RangeError(`bad HPACK table size ${maxTableBytes}`);
    }
    this.maxBytes = maxTableBytes;
  }

  /** The dynamic table's current size in bytes (RFC 7541 4.1). */
  get dynamicTableSize(): number {
    return this.tableBytes;
  }

  /** The dynamic table's entries, newest (index 62) first. */
  dynamicTableEntries(): Array<[string, string]> {
    return this.entries.map((e): [string, string] => [e.name, e.value]).reverse();
  }

  /**
   * Decodes one complete header block (HEADERS plus any CONTINUATION payloads, joined).
   * Throws HpackError on malformed input; after that the table may no longer match the
   * server's, so every later call throws too (the connection has to go).
   */
  decode(block: Uint8Array): Array<[string, string]> {
    if (this.failed) throw new HpackError('decoder unusable after an earlier error');
    try {
      return this.decodeBlock(new BlockReader(block));
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  private decodeBlock(reader: BlockReader): Array<[string, string]> {
    const headers: Array<[string, string]> = [];
    while (!reader.done) {
      const first = reader.block[reader.pos];
      if (first & 0x80) {
        // 6.1 Indexed header field.
        const field = this.lookup(reader.integer(7));
        headers.push([field.name, field.value]);
      } else if (first & 0x40) {
        // 6.2.1 Literal with incremental indexing.
        const field = this.literal(reader, 6);
        headers.push([field.name, field.value]);
        this.insert(field);
      } else if (first & 0x20) {
        // 6.3 Dynamic table size update: only before the first field of a block (RFC 7541 4.2).
        if (headers.length > 0) throw new HpackError('dynamic table size update after a header field');
        const size = reader.integer(5);
        if (size > this.maxTableBytes) {
          throw new HpackError(`dynamic table size ${size} exceeds the maximum ${this.maxTableBytes}`);
        }
        this.maxBytes = size;
        this.evictTo(size);
      } else {
        // 6.2.2 Literal without indexing (0000) and 6.2.3 never indexed (0001): both a 4-bit prefix.
        const field = this.literal(reader, 4);
        headers.push([field.name, field.value]);
      }
    }
    return headers;
  }

  /** A literal field: the name by index (non-zero prefix) or as a string, then the value. */
  private literal(reader: BlockReader, prefixBits: number): Field {
    const nameIndex = reader.integer(prefixBits);
    let name: string;
    let nameOctets: number;
    if (nameIndex === 0) {
      ({ text: name, octets: nameOctets } = reader.string());
    } else {
      ({ name, nameOctets } = this.lookup(nameIndex));
    }
    const value = reader.string();
    return { name, value: value.text, nameOctets, size: nameOctets + value.octets + ENTRY_OVERHEAD };
  }

  private lookup(index: number): Field {
    if (index === 0) throw new HpackError('index 0 is not a header field');
    if (index <= STATIC_FIELDS.length) return STATIC_FIELDS[index - 1];
    const dynamic = index - STATIC_FIELDS.length;
    if (dynamic > this.entries.length) throw new HpackError(`index ${index} is beyond the tables`);
    return this.entries[this.entries.length - dynamic];
  }

  /** RFC 7541 4.4: evict to make room; an entry larger than the whole table just empties it. */
  private insert(field: Field): void {
    if (field.size > this.maxBytes) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.maxBytes - field.size);
    this.entries.push(field);
    this.tableBytes += field.size;
  }

  /** Evicts the oldest entries until the table holds at most `bytes`. */
  private evictTo(bytes: number): void {
    while (this.tableBytes > bytes) {
      const oldest = this.entries.shift();
      if (!oldest) break;
      this.tableBytes -= oldest.size;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Encoder

/** A growable byte buffer for the encoder. */
class ByteWriter {
  private buf = new Uint8Array(256);
  length = 0;

  private reserve(extra: number): void {
    if (this.length + extra <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + extra));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  /** An integer with an N-bit prefix (RFC 7541 5.1); `flags` fills the bits above the prefix. */
  integer(value: number, prefixBits: number, flags: number): void {
    this.reserve(6);
    const mask = (1 << prefixBits) - 1;
    if (value < mask) {
      this.buf[this.length++] = flags | value;
      return;
    }
    this.buf[this.length++] = flags | mask;
    let rest = value - mask;
    while (rest >= 0x80) {
      this.buf[this.length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.buf[this.length++] = rest;
  }

  /** A plain (not Huffman-coded) string literal. */
  string(text: string): void {
    const bytes = utf8Encoder.encode(text);
    this.integer(bytes.length, 7, 0x00);
    this.reserve(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/**
 * Encodes a header list as one block, each field a literal without indexing (RFC 7541 6.2.2),
 * the name by static-table index where it has one, strings plain. Names are sent as given, so
 * they should already be lower case. Stateless: neither side's dynamic table changes.
 */
export function encodeHeaders(headers: Array<[string, string]>): Uint8Array {
  const out = new ByteWriter();
  for (const [name, value] of headers) {
    const index = STATIC_NAME_INDEX.get(name);
    if (index !== undefined) {
      out.integer(index, 4, 0x00);
    } else {
      out.integer(0, 4, 0x00);
      out.string(name);
    }
    out.string(value);
  }
  return out.bytes();
}
