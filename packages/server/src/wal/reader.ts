/**
 * Reading one segment: checks its header and decodes its records, deciding where they stop and
 * why. This is the per-segment half of the recovery decision table in docs/formats.md; the
 * other half (what to do about it) is recovery.ts.
 */
import { BLOCK_BYTES } from './direct-file.ts';
import { readWhole, type FileLayer } from './file-layer.ts';
import { crc32c } from './crc32c.ts';
import {
  RECORD_FIXED_BYTES, RECORD_LENGTH_MIN, RecordType, SEGMENT_HEADER_BYTES, decodeCommitPayload, decodeRecordAt, decodeSegmentHeader,
  hex, isIntactRegionHead, isRecordType, isZero, regionData, type WalRecord,
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
  /**
   * The valid records before the stop, in log order; payloads are views into the segment
   * bytes. A committed put region comes out as a put record with the commit's sequence and the
   * region's data; regions themselves are not listed.
   */
  records: WalRecord[];
  stop: SegmentStop;
  /** Sequence of the last valid record (regions included), or the context's prevSeq. */
  lastSeq: number;
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
  const header = checkHeader(bytes, context);
  if ('kind' in header) return { records: [], stop: header, lastSeq: context.prevSeq };
  const { version } = header;
  const records: WalRecord[] = [];
  /** Put regions of this segment by sequence; a commit always follows its region in the same segment. */
  const regions = new Map<number, { dataset: string; data: Uint8Array; committed: boolean }>();
  let prevSeq = context.prevSeq;
  let offset = SEGMENT_HEADER_BYTES;
  const stopped = (stop: SegmentStop): SegmentScan => ({ records, stop, lastSeq: prevSeq });
  for (;;) {
    const decoded = decodeRecordAt(bytes, offset, version);
    if (decoded.kind === 'end') return stopped(decoded);
    if (decoded.kind === 'corrupt') return stopped({ kind: 'corrupt', offset, reason: decoded.reason });
    if (decoded.kind === 'torn') return stopped(classifyTorn(bytes, offset, decoded.reason, context.isLast, prevSeq, version));
    const { record } = decoded;
    if (record.seq <= prevSeq) return stopped({ kind: 'corrupt', offset, reason: `sequence ${record.seq} does not follow sequence ${prevSeq}` });
    if (record.type === RecordType.putRegion) {
      regions.set(record.seq, { dataset: record.dataset, data: regionData(record.payload), committed: false });
    } else if (record.type === RecordType.putCommit) {
      const { regionSeq, dataCrc } = decodeCommitPayload(record.payload);
      const region = regions.get(regionSeq);
      if (!region || region.committed || region.dataset !== record.dataset) {
        const what = !region ? 'is not in this segment' : region.committed ? 'was committed before' : `belongs to dataset "${region.dataset}"`;
        return stopped({ kind: 'corrupt', offset, reason: `commit ${record.seq} names put region ${regionSeq}, which ${what}` });
      }
      const actualCrc = crc32c(region.data);
      if (actualCrc !== dataCrc) {
        const reason = `put region ${regionSeq} does not match its commit ${record.seq} (checksum stored ${hex(dataCrc)}, computed ${hex(actualCrc)})`;
        // Region and commit become durable in one fsync; if the commit is the log's last word, the crash came before it.
        const last = context.isLast && findRecordAfter(bytes, decoded.nextOffset, record.seq, version) === undefined;
        return stopped(last ? { kind: 'torn', offset, reason: `${reason}, at the end of the log` } : { kind: 'corrupt', offset, reason });
      }
      region.committed = true;
      records.push({ seq: record.seq, type: RecordType.put, dataset: record.dataset, payload: region.data });
    } else {
      records.push(record);
    }
    prevSeq = record.seq;
    offset = decoded.nextOffset;
  }
}

function checkHeader(bytes: Uint8Array, context: ScanContext): SegmentStop | { version: number } {
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
  return { version: header.version };
}

/**
 * Incomplete bytes are a torn tail only at the end of the last segment and only if no valid
 * record follows them (a flipped bit in a length field must not hide the records after it).
 */
function classifyTorn(bytes: Uint8Array, offset: number, reason: string, isLast: boolean, prevSeq: number, version: number): SegmentStop {
  // A closed segment is fsync'd before the next one starts, then its padding is cut: a crash
  // in between leaves the padding, and nothing after it.
  if (!isLast && version >= 2 && isPadding(bytes, offset)) return { kind: 'end' };
  if (!isLast) return { kind: 'corrupt', offset, reason: `${reason}, in a segment that is not the last` };
  // A put region cut short: what follows its head is a client's data, not records to look for.
  if (version >= 2 && isIntactRegionHead(bytes, offset)) return { kind: 'torn', offset, reason: `put region ${reason}` };
  const following = findRecordAfter(bytes, offset + 1, prevSeq, version);
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
export function findRecordAfter(bytes: Uint8Array, from: number, prevSeq: number, version?: number): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let offset = from; offset + RECORD_FIXED_BYTES <= bytes.length; offset++) {
    const length = view.getUint32(offset, true);
    if (length < RECORD_LENGTH_MIN || length > WAL_RECORD_BYTES_MAX || offset + 4 + length > bytes.length) continue;
    const seq = view.getUint32(offset + 12, true) * 2 ** 32 + view.getUint32(offset + 8, true);
    if (seq <= prevSeq || seq > prevSeq + WAL_RESCAN_SEQUENCE_WINDOW || !isRecordType(bytes[offset + 16], version)) continue;
    const decoded = decodeRecordAt(bytes, offset, version);
    if (decoded.kind === 'ok') return offset;
  }
  return undefined;
}
