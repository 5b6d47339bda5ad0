/**
 * Recovery: replays the WAL after a snapshot and decides what to do about damage, following
 * the decision table in docs/formats.md.
 *
 *   const recovery = new WalRecovery({ directory, afterSeq: snapshotSeq, recovery: mode });
 *   for await (const record of recovery.records()) apply(record);   // may throw WalCorruptionError
 *   const { tornTail, truncation, nextSeq } = recovery.report;
 *   if (tornTail) { log.warn(...tornTail); await recovery.truncateTail(); }   // before writing!
 *   if (truncation) log.error(...truncation);
 *   const writer = await WalWriter.open({ directory, nextSeq });
 */
import assert from 'node:assert/strict';
import { NodeFileLayer, type FileLayer } from './file-layer.ts';
import type { WalRecord } from './format.ts';
import { readSegmentBytes, scanSegment, type SegmentStop } from './reader.ts';
import { listSegments, type SegmentEntry } from './segment-files.ts';
import { WalCorruptionError, WalVersionError } from './wal-errors.ts';

/** `strict`: corruption before the tail throws. `truncate`: the log is cut there instead. */
export type RecoveryMode = 'strict' | 'truncate';

export interface WalRecoveryOptions {
  directory: string;
  files?: FileLayer;
  /** Replay records with a higher sequence only (the snapshot's sequence; 0 = everything). */
  afterSeq?: number;
  recovery?: RecoveryMode;
}

/** Incomplete bytes at the end of the last segment (a write cut short by a crash). */
export interface TornTail {
  file: string;
  offset: number;
  bytesDropped: number;
  reason: string;
  /** Only zero padding after the last record (a direct-I/O segment not closed): nothing lost. */
  padding: boolean;
}

/** What `recovery: 'truncate'` removed at a corrupt record. */
export interface Truncation {
  file: string;
  offset: number;
  reason: string;
  /** Bytes cut from `file` (the whole file when the offset is 0, as its header was bad). */
  bytesDropped: number;
  /** Every segment file deleted: those after `file`, and `file` itself when offset is 0. */
  segmentsDeleted: string[];
}

export interface RecoveryReport {
  segmentsRead: number;
  /** Segments not read because every record in them is <= afterSeq. */
  segmentsSkipped: number;
  /** Valid records read, including those <= afterSeq. */
  recordsRead: number;
  /** Records yielded (sequence > afterSeq). */
  recordsReplayed: number;
  /** Sequence for the writer: above every kept record, afterSeq and every kept segment's name. */
  nextSeq: number;
  /** Set when the last segment ends torn; call truncateTail() before writing. */
  tornTail: TornTail | null;
  /** Set when truncate mode cut the log at a corrupt record (already done on disk). */
  truncation: Truncation | null;
}

export class WalRecovery {
  readonly report: RecoveryReport = {
    segmentsRead: 0, segmentsSkipped: 0, recordsRead: 0, recordsReplayed: 0, nextSeq: 1, tornTail: null, truncation: null,
  };
  private readonly files: FileLayer;
  private readonly directory: string;
  private readonly afterSeq: number;
  private readonly mode: RecoveryMode;
  private started = false;
  private finished = false;
  private tailTruncated = false;

  constructor(options: WalRecoveryOptions) {
    this.files = options.files ?? new NodeFileLayer();
    this.directory = options.directory;
    this.afterSeq = options.afterSeq ?? 0;
    this.mode = options.recovery ?? 'strict';
    assert.ok(Number.isSafeInteger(this.afterSeq) && this.afterSeq >= 0, `afterSeq ${this.afterSeq} is not a sequence`);
  }

  /**
   * The records with sequence > afterSeq, in order. Payloads are fresh copies (own buffer,
   * offset 0, so Arrow can read them in place). Iterate to the end before reading `report`.
   * Throws WalCorruptionError (strict mode) or WalVersionError (any mode).
   */
  async *records(): AsyncGenerator<WalRecord, void, undefined> {
    assert.ok(!this.started, 'WalRecovery.records() may run once');
    this.started = true;
    const segments = await listSegments(this.files, this.directory);
    const start = firstSegmentNeeded(segments, this.afterSeq);
    this.report.segmentsSkipped = start;
    let prevSeq = 0;
    let keptFirstSeq = 1;
    for (let index = start; index < segments.length; index++) {
      const segment = segments[index];
      const bytes = await readSegmentBytes(this.files, segment.path);
      const scan = scanSegment(bytes, { isLast: index === segments.length - 1, prevSeq, nameFirstSeq: segment.firstSeq });
      this.report.segmentsRead++;
      prevSeq = scan.lastSeq;
      for (const record of scan.records) {
        this.report.recordsRead++;
        if (record.seq <= this.afterSeq) continue;
        this.report.recordsReplayed++;
        yield { ...record, payload: record.payload.slice() };
      }
      if (scan.stop.kind === 'end' || scan.stop.offset > 0) keptFirstSeq = segment.firstSeq;
      if (scan.stop.kind !== 'end') {
        await this.handleStop(segments, index, scan.stop, bytes.length);
        break;
      }
    }
    this.report.nextSeq = Math.max(prevSeq + 1, this.afterSeq + 1, keptFirstSeq);
    this.finished = true;
  }

  /**
   * Cuts the torn tail found by records(): truncates the last segment at the damage, or deletes
   * it when even its header is incomplete. Returns whether there was anything to cut.
   */
  async truncateTail(): Promise<boolean> {
    assert.ok(this.finished, 'truncateTail() needs records() to have run to the end');
    const tail = this.report.tornTail;
    if (!tail || this.tailTruncated) return false;
    if (tail.offset === 0) await this.files.unlink(tail.file);
    else await this.files.truncate(tail.file, tail.offset);
    this.tailTruncated = true;
    return true;
  }

  private async handleStop(segments: SegmentEntry[], index: number, stop: Exclude<SegmentStop, { kind: 'end' }>, fileBytes: number): Promise<void> {
    const file = segments[index].path;
    if (stop.kind === 'torn') {
      this.report.tornTail = { file, offset: stop.offset, bytesDropped: fileBytes - stop.offset, reason: stop.reason, padding: stop.padding === true };
      return;
    }
    if (stop.kind === 'unsupported') throw new WalVersionError(file, stop.offset, stop.reason);
    if (this.mode === 'strict') throw new WalCorruptionError(file, stop.offset, stop.reason);
    await this.truncateAt(segments, index, stop.offset, stop.reason, fileBytes);
  }

  /** Deletes the segments after `index` (newest first), then cuts segment `index` at `offset`. */
  private async truncateAt(segments: SegmentEntry[], index: number, offset: number, reason: string, fileBytes: number): Promise<void> {
    const segmentsDeleted: string[] = [];
    for (let later = segments.length - 1; later > index; later--) {
      await this.files.unlink(segments[later].path);
      segmentsDeleted.unshift(segments[later].name);
    }
    const segment = segments[index];
    if (offset === 0) {
      await this.files.unlink(segment.path);
      segmentsDeleted.unshift(segment.name);
    } else {
      await this.files.truncate(segment.path, offset);
    }
    this.report.truncation = { file: segment.path, offset, reason, bytesDropped: fileBytes - offset, segmentsDeleted };
  }
}

/** Index of the first segment that may hold a record > afterSeq (the last one always may). */
function firstSegmentNeeded(segments: readonly SegmentEntry[], afterSeq: number): number {
  let index = 0;
  while (index + 1 < segments.length && segments[index + 1].firstSeq - 1 <= afterSeq) index++;
  return index;
}
