/**
 * The WAL on-disk format, version 2; version 1 is still read (docs/formats.md is the spec;
 * a golden test per version pins it).
 *
 * Segment = header (24 bytes) then records, back to back. All integers little-endian.
 *   header: magic "LBWAL\0\0\x01" (8) | version u16 | flags u16 (0) | first sequence u64 | CRC32C u32 of bytes 0..19
 *   record: length u32 (bytes after this field) | CRC32C u32 of sequence..payload | sequence u64 |
 *           type u8 | dataset name length u16 | dataset name (UTF-8) | payload (opaque)
 *
 * Version 2 adds two record types for a put written while it arrives: a region (type 5), whose
 * checksum covers its fields only and whose data is filled in afterwards at a block-aligned
 * offset, and a commit (type 6) naming the region and the CRC32C of its data. Only the commit
 * makes the put exist: a region without one is skipped.
 *
 * Sequences are numbers here (exact up to 2^53 - 1) and u64 on disk.
 */
import assert from 'node:assert/strict';
import { crc32c, crc32cUpdate } from './crc32c.ts';
import { WAL_RECORD_BYTES_MAX } from './wal-limits.ts';

/** The version written. */
export const WAL_FORMAT_VERSION = 2;
/** The versions read. */
export const WAL_FORMAT_VERSIONS_READ: readonly number[] = [1, 2];
export const SEGMENT_MAGIC = Uint8Array.from([0x4c, 0x42, 0x57, 0x41, 0x4c, 0x00, 0x00, 0x01]);
export const SEGMENT_HEADER_BYTES = 24;
const HEADER_CHECKSUMMED_BYTES = 20;

/** length u32 + CRC u32 + sequence u64 + type u8 + name length u16. */
export const RECORD_FIXED_BYTES = 19;
/** Bytes before the checksummed part: length u32 + CRC u32. */
const RECORD_CHECKSUMMED_START = 8;
/** Smallest possible value of the length field: no name, no payload. */
export const RECORD_LENGTH_MIN = RECORD_FIXED_BYTES - 4;

export const RecordType = { put: 1, drop: 2, deleteRows: 3, indexReserved: 4, putRegion: 5, putCommit: 6 } as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** Whether `value` is a record type of format `version` (types 5 and 6 came with version 2). */
export function isRecordType(value: number, version = WAL_FORMAT_VERSION): value is RecordType {
  return value >= RecordType.put && value <= (version >= 2 ? RecordType.putCommit : RecordType.indexReserved);
}

/** Region fields after the dataset name: data offset u32 (from the payload start) + data length u32. */
export const REGION_FIELDS_BYTES = 8;
/** Commit payload: region sequence u64 + CRC32C u32 of the region's data. */
export const COMMIT_PAYLOAD_BYTES = 12;

export interface WalRecord {
  seq: number;
  type: RecordType;
  dataset: string;
  /** For a put: Arrow IPC stream bytes. Opaque to the WAL. */
  payload: Uint8Array;
}

/**
 * A payload to write: one buffer, or pieces that are written back to back as if concatenated
 * (e.g. the IPC stream pieces of a batch, which are views of its buffers). Pieces are never
 * copied or concatenated: they are checksummed one after the other and handed to the vectored
 * write as they are.
 */
export type WalPayload = Uint8Array | readonly Uint8Array[];

/** A record to encode: like WalRecord, but the payload may be given in pieces. */
export interface WalRecordToWrite {
  seq: number;
  type: RecordType;
  dataset: string;
  payload: WalPayload;
}

/** The payload as a list of non-empty pieces (a new array; the bytes are not copied). */
export function payloadPieces(payload: WalPayload): Uint8Array[] {
  if (payload instanceof Uint8Array) return payload.length > 0 ? [payload] : [];
  return payload.filter((piece) => piece.length > 0);
}

/** Total payload bytes. */
export function payloadLength(payload: WalPayload): number {
  if (payload instanceof Uint8Array) return payload.length;
  let total = 0;
  for (const piece of payload) total += piece.length;
  return total;
}

// ---------------------------------------------------------------------------------------------
// Segment header

export function encodeSegmentHeader(firstSeq: number, version = WAL_FORMAT_VERSION): Uint8Array {
  assertSequence(firstSeq);
  assert.ok(WAL_FORMAT_VERSIONS_READ.includes(version), `WAL format version ${version} is not known`);
  const bytes = new Uint8Array(SEGMENT_HEADER_BYTES);
  const view = viewOf(bytes);
  bytes.set(SEGMENT_MAGIC, 0);
  view.setUint16(8, version, true);
  view.setUint16(10, 0, true);
  view.setBigUint64(12, BigInt(firstSeq), true);
  view.setUint32(20, crc32c(bytes.subarray(0, HEADER_CHECKSUMMED_BYTES)), true);
  return bytes;
}

export type HeaderDecoding =
  /** `firstSeq` is exact only if it is a safe integer; the caller checks the range. */
  | { kind: 'ok'; firstSeq: number; version: number }
  /** Fewer bytes than a header, a wrong magic or a wrong checksum: damaged or never finished. */
  | { kind: 'damaged'; reason: string }
  /** A well-formed header of a version or with flags this build does not read. */
  | { kind: 'unsupported'; reason: string };

/** Decodes the header at the start of `bytes` (a whole segment or at least its start). */
export function decodeSegmentHeader(bytes: Uint8Array): HeaderDecoding {
  if (bytes.length < SEGMENT_HEADER_BYTES) {
    return { kind: 'damaged', reason: `segment header needs ${SEGMENT_HEADER_BYTES} bytes, file has ${bytes.length}` };
  }
  if (!SEGMENT_MAGIC.every((byte, index) => bytes[index] === byte)) {
    return { kind: 'damaged', reason: 'bad segment magic' };
  }
  // Magic, version and flags come first and never move, so a newer layout is reported as a
  // version problem (never truncated), not as a checksum mismatch.
  const view = viewOf(bytes);
  const version = view.getUint16(8, true);
  if (!WAL_FORMAT_VERSIONS_READ.includes(version)) {
    return { kind: 'unsupported', reason: `segment format version ${version}, this build reads ${WAL_FORMAT_VERSIONS_READ.join(' and ')}` };
  }
  const flags = view.getUint16(10, true);
  if (flags !== 0) return { kind: 'unsupported', reason: `segment flags ${hex(flags)} are not known to this build` };
  const storedCrc = view.getUint32(20, true);
  const actualCrc = crc32c(bytes.subarray(0, HEADER_CHECKSUMMED_BYTES));
  if (storedCrc !== actualCrc) {
    return { kind: 'damaged', reason: `segment header checksum mismatch (stored ${hex(storedCrc)}, computed ${hex(actualCrc)})` };
  }
  const firstSeq = view.getBigUint64(12, true);
  return { kind: 'ok', firstSeq: Number(firstSeq), version };
}

// ---------------------------------------------------------------------------------------------
// Records

/** A record ready to write: `head` (fixed fields and name) then the payload pieces, unchanged. */
export interface EncodedRecord {
  seq: number;
  head: Uint8Array;
  /** The payload's non-empty pieces, in order: views of the caller's buffers, not copies. */
  payload: readonly Uint8Array[];
  /** head.length + the payload's length. */
  bytes: number;
}

/** Bytes a record takes on disk, length field included. */
export function recordBytes(datasetBytes: number, payloadBytes: number): number {
  return RECORD_FIXED_BYTES + datasetBytes + payloadBytes;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Encodes a record without copying the payload (pieces are checksummed in turn and kept as
 * views). The caller checks the size against WAL_RECORD_BYTES_MAX first (a bigger record is an
 * assertion failure here).
 */
export function encodeRecord(record: WalRecordToWrite): EncodedRecord {
  assertSequence(record.seq);
  assert.ok(isRecordType(record.type), `unknown WAL record type ${record.type}`);
  const name = utf8Encoder.encode(record.dataset);
  assert.ok(name.length <= 0xffff, 'dataset name longer than a u16 length');
  const payload = payloadPieces(record.payload);
  const bytes = recordBytes(name.length, payloadLength(payload));
  assert.ok(bytes - 4 <= WAL_RECORD_BYTES_MAX, `WAL record of ${bytes} bytes is over the limit`);
  const head = new Uint8Array(RECORD_FIXED_BYTES + name.length);
  const view = viewOf(head);
  view.setUint32(0, bytes - 4, true);
  view.setBigUint64(8, BigInt(record.seq), true);
  head[16] = record.type;
  view.setUint16(17, name.length, true);
  head.set(name, RECORD_FIXED_BYTES);
  view.setUint32(4, checksumOf(head, payload), true);
  return { seq: record.seq, head, payload, bytes };
}

/** Whether the stored checksum still matches the bytes (checked again just before writing). */
export function verifyEncodedRecord(record: EncodedRecord): boolean {
  return viewOf(record.head).getUint32(4, true) === checksumOf(record.head, record.payload)
    && record.head.length + payloadLength(record.payload) === record.bytes;
}

/** The record as one contiguous buffer (tests, golden files). */
export function concatRecord(record: EncodedRecord): Uint8Array {
  const bytes = new Uint8Array(record.bytes);
  bytes.set(record.head, 0);
  let offset = record.head.length;
  for (const piece of record.payload) {
    bytes.set(piece, offset);
    offset += piece.length;
  }
  return bytes;
}

/** CRC32C of the checksummed part of the head, then of each piece: no concatenation. */
function checksumOf(head: Uint8Array, payload: readonly Uint8Array[]): number {
  let crc = crc32cUpdate(0, head.subarray(RECORD_CHECKSUMMED_START));
  for (const piece of payload) crc = crc32cUpdate(crc, piece);
  return crc;
}

export type RecordDecoding =
  /** `payload` is a view into the input, not a copy. */
  | { kind: 'ok'; record: WalRecord; nextOffset: number }
  | { kind: 'end' }
  /**
   * The bytes stop before the record does, its length is impossible or its checksum does not
   * match: a torn write if nothing valid follows (the reader decides, see classifyTorn).
   */
  | { kind: 'torn'; reason: string }
  /** The record is wrong and more data follows it, or it is wrong in a way no torn write makes. */
  | { kind: 'corrupt'; reason: string };

/**
 * Decodes the record at `offset` of `bytes`, which must be the whole rest of the segment file:
 * whether damage is a torn tail or corruption depends on what follows it.
 */
export function decodeRecordAt(bytes: Uint8Array, offset: number, version = WAL_FORMAT_VERSION): RecordDecoding {
  const remaining = bytes.length - offset;
  if (remaining === 0) return { kind: 'end' };
  if (remaining < 4) return { kind: 'torn', reason: `${remaining} bytes left, fewer than a record length field` };
  const view = viewOf(bytes);
  const length = view.getUint32(offset, true);
  // Damage is reported as torn here; the reader calls it corrupt unless it is at the end of the
  // last segment with no valid record after it (reader.ts, classifyTorn).
  if (length < RECORD_LENGTH_MIN || length > WAL_RECORD_BYTES_MAX) {
    const reason = `impossible record length ${length}`;
    return { kind: 'torn', reason: isZero(bytes, offset) ? `${reason} in a zero-filled tail` : reason };
  }
  const end = offset + 4 + length;
  if (end > bytes.length) {
    return { kind: 'torn', reason: `record of ${4 + length} bytes runs ${end - bytes.length} bytes past the end of the file` };
  }
  const storedCrc = view.getUint32(offset + 4, true);
  const actualCrc = recordChecksum(bytes, offset, end, version);
  if (storedCrc !== actualCrc) {
    const reason = `record checksum mismatch (stored ${hex(storedCrc)}, computed ${hex(actualCrc)})`;
    return { kind: 'torn', reason: isZero(bytes, end) ? `${reason}, nothing but zeros after it` : reason };
  }
  return decodeChecksummed(bytes, offset, end, version);
}

/**
 * The checksum a record should carry: of its bytes from the sequence to its end, except for a
 * put region (type 5 in a version 2 segment), whose checksum covers its length field and its
 * fields only (the data is checked by its commit). The type byte is read before it is verified;
 * a flipped type changes the range and so fails.
 */
function recordChecksum(bytes: Uint8Array, offset: number, end: number, version: number): number {
  if (version < 2 || bytes[offset + 16] !== RecordType.putRegion) return crc32c(bytes.subarray(offset + RECORD_CHECKSUMMED_START, end));
  return regionHeadChecksum(bytes, offset, Math.min(regionFieldsEnd(bytes, offset), end));
}

/** Where the fields of a put region starting at `offset` end (after its data length). */
function regionFieldsEnd(bytes: Uint8Array, offset: number): number {
  return offset + RECORD_FIXED_BYTES + viewOf(bytes).getUint16(offset + 17, true) + REGION_FIELDS_BYTES;
}

/** The checksum of a put region's head at `offset`: its length field, then its bytes 8 .. fieldsEnd. */
function regionHeadChecksum(bytes: Uint8Array, offset: number, fieldsEnd: number): number {
  return regionChecksum(bytes.subarray(offset, offset + 4), bytes.subarray(offset + RECORD_CHECKSUMMED_START, fieldsEnd));
}

/**
 * Whether a put region starts at `offset` with its length and fields intact (its checksum
 * matches), whatever became of its data: the data of a region cut short by a crash is then
 * known not to be records.
 */
export function isIntactRegionHead(bytes: Uint8Array, offset: number): boolean {
  if (offset + RECORD_FIXED_BYTES > bytes.length || bytes[offset + 16] !== RecordType.putRegion) return false;
  const fieldsEnd = regionFieldsEnd(bytes, offset);
  return fieldsEnd <= bytes.length && viewOf(bytes).getUint32(offset + 4, true) === regionHeadChecksum(bytes, offset, fieldsEnd);
}

/** CRC32C of a region's length field, then of its fields from the sequence to the data length. */
function regionChecksum(lengthField: Uint8Array, fields: Uint8Array): number {
  return crc32cUpdate(crc32c(lengthField), fields);
}

/** The checksum matched: whatever is wrong now was written wrong, not torn. */
function decodeChecksummed(bytes: Uint8Array, offset: number, end: number, version: number): RecordDecoding {
  const view = viewOf(bytes);
  const seq = view.getBigUint64(offset + 8, true);
  const type = bytes[offset + 16];
  const nameBytes = view.getUint16(offset + 17, true);
  if (seq === 0n || seq > BigInt(Number.MAX_SAFE_INTEGER)) return { kind: 'corrupt', reason: `sequence ${seq} out of range` };
  if (!isRecordType(type, version)) return { kind: 'corrupt', reason: `unknown record type ${type}` };
  const nameStart = offset + RECORD_FIXED_BYTES;
  if (nameStart + nameBytes > end) return { kind: 'corrupt', reason: `dataset name of ${nameBytes} bytes overruns the record` };
  let dataset: string;
  try {
    dataset = utf8Decoder.decode(bytes.subarray(nameStart, nameStart + nameBytes));
  } catch {
    return { kind: 'corrupt', reason: 'dataset name is not valid UTF-8' };
  }
  const payload = bytes.subarray(nameStart + nameBytes, end);
  if (type === RecordType.putRegion) {
    if (payload.length < REGION_FIELDS_BYTES) return { kind: 'corrupt', reason: 'put region shorter than its fields' };
    const region = viewOf(payload);
    const dataOffset = region.getUint32(0, true);
    const dataLength = region.getUint32(4, true);
    if (dataOffset < REGION_FIELDS_BYTES || dataOffset + dataLength > payload.length) {
      return { kind: 'corrupt', reason: `put region data [${dataOffset}, +${dataLength}) outside its ${payload.length}-byte payload` };
    }
  }
  if (type === RecordType.putCommit && payload.length !== COMMIT_PAYLOAD_BYTES) {
    return { kind: 'corrupt', reason: `put commit payload of ${payload.length} bytes, expected ${COMMIT_PAYLOAD_BYTES}` };
  }
  return { kind: 'ok', record: { seq: Number(seq), type, dataset, payload }, nextOffset: end };
}

// ---------------------------------------------------------------------------------------------
// Put regions and commits (version 2)

/**
 * The head of a put region placed at file offset `position`: the fixed fields, the name, the
 * region fields and zeros up to the next multiple of `alignBytes`, where the data starts. The
 * record covers the data rounded up to `alignBytes`, so it also ends on that boundary.
 */
export function encodeRegionHead(options: { seq: number; dataset: string; position: number; dataBytes: number; alignBytes: number }): {
  head: Uint8Array; recordBytes: number; dataPosition: number;
} {
  const { seq, position, dataBytes, alignBytes } = options;
  assertSequence(seq);
  const name = utf8Encoder.encode(options.dataset);
  const fieldsEnd = position + RECORD_FIXED_BYTES + name.length + REGION_FIELDS_BYTES;
  const dataPosition = roundUp(fieldsEnd, alignBytes);
  const recordBytes = dataPosition - position + roundUp(dataBytes, alignBytes);
  assert.ok(recordBytes - 4 <= WAL_RECORD_BYTES_MAX, `WAL put region of ${recordBytes} bytes is over the limit`);
  const head = new Uint8Array(dataPosition - position);
  const view = viewOf(head);
  view.setUint32(0, recordBytes - 4, true);
  view.setBigUint64(8, BigInt(seq), true);
  head[16] = RecordType.putRegion;
  view.setUint16(17, name.length, true);
  head.set(name, RECORD_FIXED_BYTES);
  const fields = RECORD_FIXED_BYTES + name.length;
  view.setUint32(fields, dataPosition - (position + fields), true); // data offset from the payload start
  view.setUint32(fields + 4, dataBytes, true);
  view.setUint32(4, regionChecksum(head.subarray(0, 4), head.subarray(RECORD_CHECKSUMMED_START, fields + REGION_FIELDS_BYTES)), true);
  return { head, recordBytes, dataPosition };
}

/** Bytes a put region takes at `position` at most (for size checks before it is placed). */
export function regionBytesMax(datasetBytes: number, dataBytes: number, alignBytes: number): number {
  return roundUp(RECORD_FIXED_BYTES + datasetBytes + REGION_FIELDS_BYTES, alignBytes) + alignBytes + roundUp(dataBytes, alignBytes);
}

/** The data of a decoded put region record: a view of its payload. */
export function regionData(payload: Uint8Array): Uint8Array {
  const view = viewOf(payload);
  const dataOffset = view.getUint32(0, true);
  return payload.subarray(dataOffset, dataOffset + view.getUint32(4, true));
}

export function encodeCommitPayload(regionSeq: number, dataCrc: number): Uint8Array {
  assertSequence(regionSeq);
  const payload = new Uint8Array(COMMIT_PAYLOAD_BYTES);
  const view = viewOf(payload);
  view.setBigUint64(0, BigInt(regionSeq), true);
  view.setUint32(8, dataCrc >>> 0, true);
  return payload;
}

export function decodeCommitPayload(payload: Uint8Array): { regionSeq: number; dataCrc: number } {
  const view = viewOf(payload);
  return { regionSeq: Number(view.getBigUint64(0, true)), dataCrc: view.getUint32(8, true) };
}

/** `value` rounded up to a multiple of `multiple`. */
export function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

// ---------------------------------------------------------------------------------------------
// Segment file names: the first sequence, zero-padded to 20 digits (u64 max), then ".wal".

const SEGMENT_NAME_PATTERN = /^(\d{20})\.wal$/;

export function segmentFileName(firstSeq: number): string {
  assertSequence(firstSeq);
  return `${String(firstSeq).padStart(20, '0')}.wal`;
}

/** The first sequence a segment file name states, or undefined when it is not a segment name. */
export function parseSegmentFileName(name: string): number | undefined {
  const match = SEGMENT_NAME_PATTERN.exec(name);
  if (!match) return undefined;
  const firstSeq = Number(match[1]);
  return firstSeq >= 1 && Number.isSafeInteger(firstSeq) ? firstSeq : undefined;
}

// ---------------------------------------------------------------------------------------------

function assertSequence(seq: number): void {
  assert.ok(Number.isSafeInteger(seq) && seq >= 1, `WAL sequence ${seq} is not a positive safe integer`);
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Whether every byte from `offset` to the end is zero (a preallocated or zero-filled tail). */
export function isZero(bytes: Uint8Array, offset: number): boolean {
  for (let index = offset; index < bytes.length; index++) if (bytes[index] !== 0) return false;
  return true;
}

/** `value` as 0x and 8 hex digits (checksums in messages). */
export function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
