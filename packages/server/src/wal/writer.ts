/**
 * The WAL writer: appends records to the current segment with group commit.
 *
 * `append()` assigns the sequence at once (call order), queues the encoded record and returns a
 * promise. One flush loop takes everything queued, writes it with one vectored write, fsyncs
 * once and resolves the whole batch; appends made meanwhile form the next batch. So N
 * concurrent appends cost about N / batch fsyncs, and an append waits at most for the fsync in
 * flight plus its own.
 *
 * A failed write or fsync fails the writer: the batch and everything queued reject with
 * WalWriterFailedError, and so does every later append. After an fsync error the page cache
 * state is unknown (Linux may drop the dirty pages and report success next time), so the only
 * safe continuation is a restart and recovery.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { DATASET_NAME_BYTES_MAX } from '../limits.ts';
import { NodeFileLayer, writeFully, type FileLayer, type WalFile } from './file-layer.ts';
import {
  SEGMENT_HEADER_BYTES, encodeRecord, isRecordType, payloadLength, recordBytes, verifyEncodedRecord, type EncodedRecord, type RecordType,
  type WalPayload,
} from './format.ts';
import { createSegmentFile, listSegments } from './segment-files.ts';
import { WalRecordTooLargeError, WalWriterFailedError } from './wal-errors.ts';
import { WAL_RECORD_BYTES_MAX, WAL_SEGMENT_BYTES_MAX_DEFAULT } from './wal-limits.ts';
import type { LongbowMetrics } from '../metrics/longbow-metrics.ts';

export type WalSyncMode = 'fsync' | 'none';

export interface WalWriterOptions {
  /** The WAL directory (`<data path>/wal`); created if missing. */
  directory: string;
  /** Sequence of the first record to write: above every record in the WAL and the snapshot. */
  nextSeq: number;
  files?: FileLayer;
  /** `fsync`: an append resolves once durable. `none`: once written (lost on power failure). */
  sync?: WalSyncMode;
  /** A segment holding this many bytes or more is closed before the next record. */
  segmentBytesMax?: number;
  /** Checksum each record again just before writing it (catches payload buffers modified after append). */
  verifyBeforeWrite?: boolean;
  /** Records writes, bytes and fsync durations (absent: nothing is recorded). */
  metrics?: LongbowMetrics;
}

/** The options with every default filled in. */
type ResolvedOptions = Required<Omit<WalWriterOptions, 'metrics'>> & Pick<WalWriterOptions, 'metrics'>;

interface QueuedRecord { kind: 'record'; record: EncodedRecord; resolve(value: { seq: number }): void; reject(error: Error): void }
interface QueuedRotation { kind: 'rotate'; firstSeq: number; resolve(value: { firstSeq: number }): void; reject(error: Error): void }
type Queued = QueuedRecord | QueuedRotation;

interface OpenSegment { file: WalFile; firstSeq: number; sizeBytes: number; records: number }

export class WalWriter {
  // Counters for metrics: plain fields, only ever increased (except the "last" ones).
  recordsWritten = 0;
  /** Record and segment header bytes written. */
  bytesWritten = 0;
  fsyncs = 0;
  lastFsyncDurationMs = 0;
  fsyncDurationMsTotal = 0;
  /** Batches written (each is one write and, with sync 'fsync', one fsync). */
  groupCommits = 0;
  segmentsCreated = 0;

  private readonly files: FileLayer;
  private readonly directory: string;
  private readonly syncMode: WalSyncMode;
  private readonly segmentBytesMax: number;
  private readonly verifyBeforeWrite: boolean;
  private readonly metrics: LongbowMetrics | undefined;
  private segment: OpenSegment;
  private nextSequence: number;
  private queue: Queued[] = [];
  private flushing: Promise<void> | null = null;
  private unsyncedWrites = false;
  private failure: WalWriterFailedError | null = null;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private closing: Promise<void> | null = null;

  private constructor(options: ResolvedOptions, segment: OpenSegment) {
    this.files = options.files;
    this.directory = options.directory;
    this.syncMode = options.sync;
    this.segmentBytesMax = options.segmentBytesMax;
    this.verifyBeforeWrite = options.verifyBeforeWrite;
    this.metrics = options.metrics;
    this.segment = segment;
    this.nextSequence = options.nextSeq;
  }

  /**
   * Opens a writer on a new segment named `nextSeq`. Recover first (and cut a torn tail): a
   * segment at or after `nextSeq` holding records is refused; an empty one is replaced.
   */
  static async open(options: WalWriterOptions): Promise<WalWriter> {
    // Explicit fallbacks, not a spread: an option passed as undefined must not erase its default.
    const resolved: ResolvedOptions = {
      ...options,
      files: options.files ?? new NodeFileLayer(),
      sync: options.sync ?? 'fsync',
      segmentBytesMax: options.segmentBytesMax ?? WAL_SEGMENT_BYTES_MAX_DEFAULT,
      verifyBeforeWrite: options.verifyBeforeWrite ?? true,
    };
    assert.ok(Number.isSafeInteger(resolved.nextSeq) && resolved.nextSeq >= 1, `nextSeq ${resolved.nextSeq} is not a positive integer`);
    assert.ok(resolved.segmentBytesMax > SEGMENT_HEADER_BYTES, 'segmentBytesMax is smaller than a segment header');
    await resolved.files.makeDirectory(resolved.directory);
    await clearWayFor(resolved.files, resolved.directory, resolved.nextSeq);
    const file = await createSegmentFile(resolved.files, resolved.directory, resolved.nextSeq, segmentOpenMode(resolved.sync));
    const writer = new WalWriter(resolved, { file, firstSeq: resolved.nextSeq, sizeBytes: SEGMENT_HEADER_BYTES, records: 0 });
    writer.countNewSegment();
    return writer;
  }

  /** The sequence the next append will get. */
  get nextSeq(): number { return this.nextSequence; }
  /** The segment being written: path, first sequence, size. */
  get currentSegment(): { path: string; firstSeq: number; sizeBytes: number } {
    return { path: this.segment.file.path, firstSeq: this.segment.firstSeq, sizeBytes: this.segment.sizeBytes };
  }
  /** Set once a write or fsync failed; the writer then refuses every append. */
  get failed(): WalWriterFailedError | null { return this.failure; }

  /**
   * Appends a record; resolves with its sequence once durable (see the sync option). The payload
   * may be given in pieces, written back to back: they are checksummed here and written later by
   * reference, never copied, so they must not change until the promise settles (with
   * verifyBeforeWrite a change fails the writer instead of reaching the disk).
   */
  append(type: RecordType, dataset: string, payload: WalPayload): Promise<{ seq: number }> {
    if (this.failure) return this.refuse(this.failure);
    if (this.state !== 'open') return this.refuse(new Error('WAL writer is closed'));
    assert.ok(isRecordType(type), `unknown WAL record type ${type}`);
    const datasetBytes = Buffer.byteLength(dataset, 'utf8');
    assert.ok(datasetBytes > 0 && datasetBytes <= DATASET_NAME_BYTES_MAX, `dataset name of ${datasetBytes} bytes`);
    const bytes = recordBytes(datasetBytes, payloadLength(payload));
    if (bytes - 4 > WAL_RECORD_BYTES_MAX) return this.refuse(new WalRecordTooLargeError(bytes, WAL_RECORD_BYTES_MAX + 4));
    const record = encodeRecord({ seq: this.nextSequence++, type, dataset, payload });
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'record', record, resolve, reject });
      this.scheduleFlush();
    });
  }

  /**
   * Closes the current segment after every record appended so far and starts the next one.
   * Resolves with the new segment's first sequence (all earlier records are in older segments
   * and fsync'd). A no-op when the current segment holds no record yet.
   */
  rotate(): Promise<{ firstSeq: number }> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.state !== 'open') return Promise.reject(new Error('WAL writer is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'rotate', firstSeq: this.nextSequence, resolve, reject });
      this.scheduleFlush();
    });
  }

  /** Writes what is queued, fsyncs (in every sync mode) and closes. Rejects if the writer failed. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    this.state = 'closing';
    while (this.flushing) await this.flushing;
    try {
      if (!this.failure) await this.syncSegment().catch((error: unknown) => { this.failure = new WalWriterFailedError(error); });
    } finally {
      this.state = 'closed';
      await this.segment.file.close().catch(() => undefined);
    }
    if (this.failure) throw this.failure;
  }

  /**
   * Deletes the segments whose every record has a sequence <= `seq` (a segment's records end
   * where the next segment begins), never the current one. Returns the deleted file names.
   */
  async deleteSegmentsUpTo(seq: number): Promise<string[]> {
    const segments = await listSegments(this.files, this.directory);
    const deleted: string[] = [];
    for (let index = 0; index + 1 < segments.length; index++) {
      const segment = segments[index];
      if (segment.firstSeq >= this.segment.firstSeq) break;
      if (segments[index + 1].firstSeq - 1 > seq) break;
      await this.files.unlink(segment.path);
      deleted.push(segment.name);
    }
    return deleted;
  }

  // -------------------------------------------------------------------------------------------

  private refuse(error: Error): Promise<never> {
    this.metrics?.walWrites.inc({ status: 'error' });
    return Promise.reject(error);
  }

  private scheduleFlush(): void {
    if (!this.flushing) this.flushing = this.flushLoop();
  }

  private async flushLoop(): Promise<void> {
    try {
      await Promise.resolve(); // appends made in the same tick join the first batch
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        if (this.failure) {
          this.rejectAll(batch, this.failure);
          continue;
        }
        try {
          await this.commit(batch);
        } catch (error) {
          this.failure = new WalWriterFailedError(error);
          this.rejectAll(batch, this.failure);
        }
      }
    } finally {
      this.flushing = null;
    }
  }

  /** Writes a batch (rotating where needed), fsyncs once, then resolves it. */
  private async commit(batch: Queued[]): Promise<void> {
    let run: EncodedRecord[] = [];
    let runBytes = 0;
    for (const item of batch) {
      const rotateBefore = item.kind === 'rotate'
        || (this.segment.records + run.length > 0 && this.segment.sizeBytes + runBytes >= this.segmentBytesMax);
      if (rotateBefore) {
        await this.writeRun(run);
        run = [];
        runBytes = 0;
        await this.rotateTo(item.kind === 'rotate' ? item.firstSeq : item.record.seq);
      }
      if (item.kind === 'record') {
        run.push(item.record);
        runBytes += item.record.bytes;
      }
    }
    await this.writeRun(run);
    if (this.syncMode === 'fsync') await this.syncSegment();
    this.groupCommits++;
    this.metrics?.walWrites.inc({ status: 'ok' }, recordsIn(batch));
    for (const item of batch) {
      if (item.kind === 'record') item.resolve({ seq: item.record.seq });
      else item.resolve({ firstSeq: item.firstSeq });
    }
  }

  private rejectAll(batch: readonly Queued[], error: Error): void {
    this.metrics?.walWrites.inc({ status: 'error' }, recordsIn(batch));
    for (const item of batch) item.reject(error);
  }

  private async writeRun(run: readonly EncodedRecord[]): Promise<void> {
    if (run.length === 0) return;
    if (this.verifyBeforeWrite) {
      for (const record of run) {
        assert.ok(verifyEncodedRecord(record), `WAL record ${record.seq} changed between append and write (payload buffer modified?)`);
      }
    }
    // Heads and payload pieces go to one vectored write as they are (libuv splits past IOV_MAX).
    const buffers: Uint8Array[] = [];
    for (const record of run) {
      buffers.push(record.head);
      for (const piece of record.payload) buffers.push(piece); // no spread: a batch may have many pieces
    }
    this.unsyncedWrites = true;
    const written = await writeFully(this.segment.file, buffers, this.segment.sizeBytes);
    this.segment.sizeBytes += written;
    this.segment.records += run.length;
    this.recordsWritten += run.length;
    this.bytesWritten += written;
    this.metrics?.walBytesWritten.inc(written);
  }

  /** fsyncs the current segment if anything was written since the last fsync. */
  private async syncSegment(): Promise<void> {
    if (!this.unsyncedWrites) return;
    const startMs = performance.now();
    await this.segment.file.sync();
    this.unsyncedWrites = false;
    this.fsyncs++;
    this.lastFsyncDurationMs = performance.now() - startMs;
    this.fsyncDurationMsTotal += this.lastFsyncDurationMs;
    this.metrics?.walFsyncDuration.observe(this.lastFsyncDurationMs / 1000);
  }

  /** Closes the current segment (fsync'd in every sync mode) and starts one at `firstSeq`. */
  private async rotateTo(firstSeq: number): Promise<void> {
    if (this.segment.records === 0) return;
    assert.ok(firstSeq > this.segment.firstSeq, `rotation to ${firstSeq} does not move past ${this.segment.firstSeq}`);
    await this.syncSegment();
    await this.segment.file.close();
    const file = await createSegmentFile(this.files, this.directory, firstSeq, segmentOpenMode(this.syncMode));
    this.segment = { file, firstSeq, sizeBytes: SEGMENT_HEADER_BYTES, records: 0 };
    this.countNewSegment();
  }

  private countNewSegment(): void {
    this.segmentsCreated++;
    this.bytesWritten += SEGMENT_HEADER_BYTES;
    this.metrics?.walBytesWritten.inc(SEGMENT_HEADER_BYTES);
  }
}

/**
 * Makes sure no segment would follow the new one. A segment starting exactly at `nextSeq` is
 * replaced if it holds no record (a crash right after a rotation); anything else means the
 * caller skipped recovery or passed a wrong `nextSeq`.
 */
async function clearWayFor(files: FileLayer, directory: string, nextSeq: number): Promise<void> {
  for (const segment of await listSegments(files, directory)) {
    if (segment.firstSeq < nextSeq) continue;
    if (segment.firstSeq === nextSeq && (await sizeOf(files, segment.path)) <= SEGMENT_HEADER_BYTES) {
      await files.unlink(segment.path);
      continue;
    }
    throw new Error(`WAL segment ${segment.path} starts at or after the next sequence ${nextSeq}: run recovery first`);
  }
}

async function sizeOf(files: FileLayer, path: string): Promise<number> {
  const file = await files.open(path, 'read');
  try {
    return await file.sizeBytes();
  } finally {
    await file.close();
  }
}

/**
 * With every commit fsync'd, segments are written around the page cache (direct I/O) when the
 * file system allows: the data goes to the disk anyway, and filling new cache pages costs more
 * than the write. Without fsync, the cache is what makes a commit cheap.
 */
function segmentOpenMode(sync: WalSyncMode): 'create' | 'append' {
  return sync === 'fsync' ? 'append' : 'create';
}

function recordsIn(batch: readonly Queued[]): number {
  let records = 0;
  for (const item of batch) if (item.kind === 'record') records++;
  return records;
}
