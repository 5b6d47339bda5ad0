/**
 * Reading one segment: checks its header and decodes its records, deciding where they stop and
 * why. This is the per-segment half of the recovery decision table in docs/formats.md; the
 * other half (what to do about it) is recovery.ts.
 */
import { BLOCK_BYTES } from './direct-file.ts';
import { readWhole, type FileLayer } from './file-layer.ts';
import {
  RECORD_FIXED_BYTES, RECORD_LENGTH_MIN, SEGMENT_HEADER_BYTES, decodeRecordAt, decodeSegmentHeader, isRecordType, isZero,
  type WalRecord,
} from './format.ts';
import { WAL_RECORD_BYTES_MAX, WAL_RESCAN_SEQUENCE_WINDOW } from './wal-limits.ts';

export { listSegments, type SegmentEntry } from './segment-files.ts';

/** Why the records of a segment stop; `offset` is where the damaged header or record starts. */
export type SegmentStop =
  | { kind: 'end' }
  /**
   * Incomplete bytes at the end of the last segment: a write cut short by a crash. `padding`:
   * only the zeros a direct-I/O segment ends with until it is closed (direct-file.ts).
   */
  | { kind: 'torn'; offset: number; reason: string; padding?: boolean }
  /** Damage that no crash explains: refuse to start (or truncate here in truncate mode). */
  | { kind: 'corrupt'; offset: number; reason: string }
  /** Written by a format version this build does not read: never truncated. */
  | { kind: 'unsupported'; offset: number; reason: string };

export interface SegmentScan {
  /** The valid records before the stop; payloads are views into the segment bytes. */
  records: WalRecord[];
  stop: SegmentStop;
}

export interface ScanContext {
  /** Whether this is the newest segment (the only one that may end torn). */
  isLast: boolean;
  /** Sequence of the last record before this segment (0 if none): records must exceed it. */
  prevSeq: number;
  /** The first sequence the file name states; the header must agree. */
  nameFirstSeq: number;
}

/** Reads a whole segment file into memory. */
export function readSegmentBytes(files: FileLayer, path: string): Promise<Uint8Array> {
  return readWhole(files, path);
}

/** Decodes a whole segment (`bytes` is the entire file). Pure: no I/O. */
export function scanSegment(bytes: Uint8Array, context: ScanContext): SegmentScan {
  const headerStop = checkHeader(bytes, context);
  if (headerStop) return { records: [], stop: headerStop };
  const records: WalRecord[] = [];
  let prevSeq = context.prevSeq;
  let offset = SEGMENT_HEADER_BYTES;
  for (;;) {
    const decoded = decodeRecordAt(bytes, offset);
    if (decoded.kind === 'end') return { records, stop: decoded };
    if (decoded.kind === 'corrupt') return { records, stop: { kind: 'corrupt', offset, reason: decoded.reason } };
    if (decoded.kind === 'torn') return { records, stop: classifyTorn(bytes, offset, decoded.reason, context.isLast, prevSeq) };
    const { seq } = decoded.record;
    if (seq <= prevSeq) {
      return { records, stop: { kind: 'corrupt', offset, reason: `sequence ${seq} does not follow sequence ${prevSeq}` } };
    }
    records.push(decoded.record);
    prevSeq = seq;
    offset = decoded.nextOffset;
  }
}

function checkHeader(bytes: Uint8Array, context: ScanContext): SegmentStop | null {
  const header = decodeSegmentHeader(bytes);
  if (header.kind === 'unsupported') return { kind: 'unsupported', offset: 0, reason: header.reason };
  if (header.kind === 'damaged') {
    // A crash between creating the file and syncing its header leaves it short, zero or unchecked.
    const unfinished = bytes.length <= SEGMENT_HEADER_BYTES || isZero(bytes, 0);
    const kind = context.isLast && unfinished ? 'torn' : 'corrupt';
    return { kind, offset: 0, reason: header.reason };
  }
  if (!Number.isSafeInteger(header.firstSeq) || header.firstSeq < 1) {
    return { kind: 'corrupt', offset: 0, reason: `segment first sequence ${header.firstSeq} is out of range` };
  }
  if (header.firstSeq !== context.nameFirstSeq) {
    return { kind: 'corrupt', offset: 0, reason: `header says first sequence ${header.firstSeq}, file name says ${context.nameFirstSeq}` };
  }
  if (header.firstSeq <= context.prevSeq) {
    return { kind: 'corrupt', offset: 0, reason: `segment starts at sequence ${header.firstSeq}, not after sequence ${context.prevSeq}` };
  }
  return null;
}

/**
 * Incomplete bytes are a torn tail only at the end of the last segment and only if no valid
 * record follows them (a flipped bit in a length field must not hide the records after it).
 */
function classifyTorn(bytes: Uint8Array, offset: number, reason: string, isLast: boolean, prevSeq: number): SegmentStop {
  if (!isLast) return { kind: 'corrupt', offset, reason: `${reason}, in a segment that is not the last` };
  const following = findRecordAfter(bytes, offset + 1, prevSeq);
  if (following !== undefined) {
    return { kind: 'corrupt', offset, reason: `${reason}, but a valid record follows at offset ${following}` };
  }
  if (isPadding(bytes, offset)) return { kind: 'torn', offset, reason: 'zero padding after the last record', padding: true };
  return { kind: 'torn', offset, reason };
}

/** Fewer than a block of zeros ending the file on a block boundary: what a direct write leaves. */
function isPadding(bytes: Uint8Array, offset: number): boolean {
  return bytes.length % BLOCK_BYTES === 0 && bytes.length - offset < BLOCK_BYTES && isZero(bytes, offset);
}

/**
 * Offset of the first valid record starting after `from` whose sequence lies just above
 * `prevSeq`, or undefined. Cheap field checks come first; only plausible candidates are
 * checksummed.
 */
export function findRecordAfter(bytes: Uint8Array, from: number, prevSeq: number): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let offset = from; offset + RECORD_FIXED_BYTES <= bytes.length; offset++) {
    const length = view.getUint32(offset, true);
    if (length < RECORD_LENGTH_MIN || length > WAL_RECORD_BYTES_MAX || offset + 4 + length > bytes.length) continue;
    const seq = view.getUint32(offset + 12, true) * 2 ** 32 + view.getUint32(offset + 8, true);
    if (seq <= prevSeq || seq > prevSeq + WAL_RESCAN_SEQUENCE_WINDOW || !isRecordType(bytes[offset + 16])) continue;
    const decoded = decodeRecordAt(bytes, offset);
    if (decoded.kind === 'ok') return offset;
  }
  return undefined;
}
