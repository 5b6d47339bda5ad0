/**
 * The WAL writer: appends records to the current segment with group commit.
 *
 * `append()` assigns the sequence at once (call order), queues the encoded record and returns a
 * promise. One flush loop takes everything queued, writes it with one vectored write, fsyncs
 * once and resolves the whole batch; appends made meanwhile form the next batch. So N
 * concurrent appends cost about N / batch fsyncs, and an append waits at most for the fsync in
 * flight plus its own.
 *
 * A put can also be written while it arrives (`stage()`): its bytes go to a region reserved in
 * the segment as they land, and `commitStaged()` appends the short commit record that makes it
 * count. See PutRegion below.
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
import { startChecksumJob, type ChecksumJob } from './checksum-thread.ts';
import { crc32cUpdate } from './crc32c.ts';
import { BLOCK_BYTES } from './direct-file.ts';
import {
  COMMIT_PAYLOAD_BYTES, RecordType, SEGMENT_HEADER_BYTES, encodeCommitPayload, encodeRecord, encodeRegionHead, isRecordType, payloadLength, recordBytes,
  regionBytesMax, verifyEncodedRecord, type EncodedRecord, type WalPayload,
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
/** A rotation to `firstSeq` decided when it was queued; `resolve` when one was asked for. */
interface QueuedRotation { kind: 'rotate'; firstSeq: number; real: boolean; resolve?(value: { firstSeq: number }): void; reject?(error: Error): void }
/** A put region: its head is written here, its data goes to the space after it as it lands. */
interface QueuedRegion { kind: 'region'; region: PutRegion; head: Uint8Array; position: number; recordBytes: number; dataPosition: number }
/** The commit of a region: written once the region's data is, with the sequence taken at commitStaged(). */
interface QueuedCommit { kind: 'commit'; region: PutRegion; seq: number; resolve(value: { seq: number }): void; reject(error: Error): void }
type Queued = QueuedRecord | QueuedRotation | QueuedRegion | QueuedCommit;

/** Bytes of a shared body handed to the checksum thread at a time. */
const CHECKSUM_STEP_BYTES = 1 << 20;
/** Bytes of region data per write: a multiple of the block size. */
const REGION_CHUNK_BYTES = 4 << 20;
/**
 * Region writes in flight per region. Generous: completions are seen only between the socket
 * reads of one event-loop turn (libuv reads up to 32 times per turn, tens of MB on loopback),
 * so a small budget would let the disk idle while the body lands.
 */
const REGION_WRITES_MAX = 8;

/**
 * A put being written while it arrives. Its data is `prefix` (small, known at once) followed by
 * a body whose bytes become final in order (`landed`). Returned by WalWriter.stage(); settle it
 * with WalWriter.commitStaged() or abandon().
 */
export interface StagedRecord {
  /** The body memory given to stage(). */
  readonly body: Uint8Array;
  /** The first `bytes` bytes of the body are final: they may be written now. */
  landed(bytes: number): void;
  /** Whole body landed, not abandoned: commitStaged() may be called. */
  readonly complete: boolean;
  /** The put will not be committed: stop writing it (its space stays, never replayed). */
  abandon(): void;
}

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
  /** Regions staged and not yet committed (durably), abandoned or orphaned. */
  private readonly openRegions = new Set<PutRegion>();
  /**
   * Where the next queued item goes: file positions and rotations are decided when an item is
   * queued, so that a put region's data can be written before the records queued ahead of it.
   */
  private tail: { position: number; records: number; rotationsQueued: number };
  /** Region data writes in flight (close waits for them). */
  private readonly regionWrites = new Set<Promise<unknown>>();
  /** Closed segments still being closed (close waits for them). */
  private readonly closingFiles = new Set<Promise<void>>();
  /** Puts staged (written while they arrived) and committed. */
  stagedCommits = 0;

  private constructor(options: ResolvedOptions, segment: OpenSegment) {
    this.files = options.files;
    this.directory = options.directory;
    this.syncMode = options.sync;
    this.segmentBytesMax = options.segmentBytesMax;
    this.verifyBeforeWrite = options.verifyBeforeWrite;
    this.metrics = options.metrics;
    this.segment = segment;
    this.nextSequence = options.nextSeq;
    this.tail = { position: segment.sizeBytes, records: 0, rotationsQueued: 0 };
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
    assert.ok(isRecordType(type) && type !== RecordType.putRegion && type !== RecordType.putCommit, `WAL record type ${type} cannot be appended`);
    const datasetBytes = Buffer.byteLength(dataset, 'utf8');
    assert.ok(datasetBytes > 0 && datasetBytes <= DATASET_NAME_BYTES_MAX, `dataset name of ${datasetBytes} bytes`);
    const bytes = recordBytes(datasetBytes, payloadLength(payload));
    if (bytes - 4 > WAL_RECORD_BYTES_MAX) return this.refuse(new WalRecordTooLargeError(bytes, WAL_RECORD_BYTES_MAX + 4));
    const record = encodeRecord({ seq: this.nextSequence++, type, dataset, payload });
    this.rotateTailIfFull(record.seq);
    this.takeTail(record.bytes);
    const appended = new Promise<{ seq: number }>((resolve, reject) => {
      this.queue.push({ kind: 'record', record, resolve, reject });
      this.scheduleFlush();
    });
    this.rotateIfFull();
    return appended;
  }

  /** Before queueing the item with sequence `seq`: a full tail segment is rotated first. */
  private rotateTailIfFull(seq: number): void {
    if (this.tail.position >= this.segmentBytesMax && this.tail.records > 0) this.queueRotation(seq);
  }

  /** Takes the next `bytes` at the tail for a record being queued. */
  private takeTail(bytes: number): void {
    this.tail.position += bytes;
    this.tail.records++;
  }

  /**
   * Queues the rotation of a full tail segment now rather than before the next record, so the
   * next segment is ready when a put region arrives (its data is written only once its segment
   * exists), unless a put is arriving. The next item queued takes sequence nextSequence, the
   * new segment's name.
   */
  private rotateIfFull(): void {
    // Never for a put still arriving: that would orphan it (only a record that needs the space does).
    if (this.state !== 'open' || this.failure || this.tail.records === 0 || this.openRegions.size > 0) return;
    if (this.tail.position >= this.segmentBytesMax) this.queueRotation(this.nextSequence);
  }

  /**
   * Queues a rotation to `firstSeq` (a real one when the tail segment holds records). A region
   * still open then can no longer have its commit in its segment: it is orphaned, and its put
   * is appended whole when committed.
   */
  private queueRotation(firstSeq: number, resolve?: QueuedRotation['resolve'], reject?: QueuedRotation['reject']): void {
    const real = this.tail.records > 0;
    if (real) {
      this.tail = { position: SEGMENT_HEADER_BYTES, records: 0, rotationsQueued: this.tail.rotationsQueued + 1 };
      this.orphanOpenRegions();
    }
    this.queue.push({ kind: 'rotate', firstSeq, real, resolve, reject });
    this.scheduleFlush();
  }

  /**
   * Starts a put record whose data is `prefix` then `body`, written to the log while the body
   * lands (see StagedRecord). Returns null when this writer cannot (failed or closed, a file
   * layer without reserved writes, too large): append the put whole instead. The sequence the
   * region takes is internal; the put's own sequence is taken by commitStaged().
   */
  stage(dataset: string, prefix: readonly Uint8Array[], body: Uint8Array): StagedRecord | null {
    if (this.failure || this.state !== 'open' || !this.segment.file.writeReserved) return null;
    const datasetBytes = Buffer.byteLength(dataset, 'utf8');
    if (datasetBytes === 0 || datasetBytes > DATASET_NAME_BYTES_MAX) return null;
    const dataBytes = payloadLength(prefix) + body.length;
    if (regionBytesMax(datasetBytes, dataBytes, BLOCK_BYTES) - 4 > WAL_RECORD_BYTES_MAX) return null;
    const region = new PutRegion(this, this.nextSequence++, dataset, [...prefix, body], body, dataBytes);
    this.rotateTailIfFull(region.seq);
    const position = this.tail.position;
    const placed = encodeRegionHead({ seq: region.seq, dataset, position, dataBytes, alignBytes: BLOCK_BYTES });
    this.takeTail(placed.recordBytes);
    this.openRegions.add(region);
    this.queue.push({ kind: 'region', region, ...placed, position });
    this.scheduleFlush();
    // In the open segment, the data can go out at once; after a queued rotation, once that is done.
    if (this.tail.rotationsQueued === 0) region.place(this.segment.file, placed.dataPosition);
    return region;
  }

  /**
   * Makes a staged put count: takes its sequence now (call order, as append() does), waits for
   * its data to be written, appends the commit record and resolves once that is durable. The
   * body must have landed whole.
   */
  commitStaged(staged: StagedRecord): Promise<{ seq: number }> {
    const region = staged as PutRegion;
    assert.ok(region instanceof PutRegion && region.writer === this, 'commitStaged() takes a record staged by this writer');
    assert.ok(region.complete, `staged record ${region.seq} is ${region.state}, ${region.available} of ${region.dataBytes} bytes landed`);
    if (this.failure) return this.refuse(this.failure);
    if (this.state !== 'open') return this.refuse(new Error('WAL writer is closed'));
    // Its segment was closed while it arrived: the put goes in whole, like any other.
    if (region.state === 'orphaned') return this.append(RecordType.put, region.dataset, region.data);
    region.state = 'committing';
    const seq = this.nextSequence++;
    // No rotation between a region and its commit: the segment may pass its limit by this record.
    this.takeTail(recordBytes(Buffer.byteLength(region.dataset, 'utf8'), COMMIT_PAYLOAD_BYTES));
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'commit', region, seq, resolve, reject });
      this.scheduleFlush();
    });
  }

  /**
   * Closes the current segment after every record appended so far and starts the next one
   * (all earlier records are then in older segments and fsync'd). A no-op when the current
   * segment holds no record yet. Staged puts still arriving are orphaned (appended whole).
   */
  rotate(): Promise<{ firstSeq: number }> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.state !== 'open') return Promise.reject(new Error('WAL writer is closed'));
    return new Promise((resolve, reject) => this.queueRotation(this.nextSequence, resolve, reject));
  }

  /** Writes what is queued, fsyncs (in every sync mode) and closes. Rejects if the writer failed. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    this.state = 'closing';
    this.orphanOpenRegions(); // no more data writes: a put still arriving will not be committed
    while (this.flushing) await this.flushing;
    await Promise.allSettled([...this.regionWrites, ...this.closingFiles]);
    try {
      if (!this.failure) {
        await this.settleLength().then(() => this.syncSegment()).catch((error: unknown) => { this.failure = new WalWriterFailedError(error); });
      }
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

  /** A region write failed: the writer fails as after any failed write. */
  failWith(error: unknown): void {
    this.failure ??= new WalWriterFailedError(error);
  }

  /** Called by a region when it is abandoned. */
  regionClosed(region: PutRegion): void {
    this.openRegions.delete(region);
  }

  /** Stops the data writes of every region whose commit is not queued yet (see queueRotation). */
  private orphanOpenRegions(): void {
    for (const region of this.openRegions) {
      if (region.state !== 'open') continue;
      region.orphan();
      this.openRegions.delete(region);
    }
  }

  /** Runs a region data write on `file` (the region's segment); close() waits for it. */
  writeRegion(file: WalFile, pieces: readonly Uint8Array[], position: number): Promise<number> {
    this.unsyncedWrites = true;
    const write = writeFully(file, pieces, position, true);
    this.regionWrites.add(write);
    const untrack = () => { this.regionWrites.delete(write); };
    write.then(untrack, untrack);
    return write.then((written) => {
      this.countBytes(written);
      return written;
    });
  }

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

  /** Writes a batch (rotating where it was decided), fsyncs once, then resolves it. */
  private async commit(batch: Queued[]): Promise<void> {
    let run: EncodedRecord[] = [];
    const flushRun = async () => {
      await this.writeRun(run);
      run = [];
    };
    /** The position the next item of the batch is written at. */
    const cursor = () => this.segment.sizeBytes + run.reduce((sum, record) => sum + record.bytes, 0);
    for (const item of batch) {
      if (item.kind === 'rotate') {
        await flushRun();
        await this.rotateTo(item.firstSeq);
        if (item.real) this.tail.rotationsQueued--;
      } else if (item.kind === 'record') {
        run.push(item.record);
      } else if (item.kind === 'region') {
        assert.equal(cursor(), item.position, `put region ${item.region.seq} placed at ${item.position}, written at ${cursor()}`);
        run.push({ seq: item.region.seq, head: item.head, payload: [], bytes: item.head.length });
        await flushRun();
        this.segment.sizeBytes += item.recordBytes - item.head.length; // the data area, written by the region
        if (!item.region.placed) item.region.place(this.segment.file, item.dataPosition);
      } else {
        await item.region.drained();
        const crc = await item.region.finalCrc();
        const record = encodeRecord({
          seq: item.seq, type: RecordType.putCommit, dataset: item.region.dataset, payload: encodeCommitPayload(item.region.seq, crc),
        });
        run.push(record);
      }
    }
    await flushRun();
    if (this.syncMode === 'fsync') await this.syncSegment();
    this.groupCommits++;
    this.metrics?.walWrites.inc({ status: 'ok' }, recordsIn(batch));
    for (const item of batch) {
      if (item.kind !== 'commit') continue;
      item.region.state = 'committed';
      this.openRegions.delete(item.region);
      this.stagedCommits++;
      this.metrics?.walStreamedPuts.inc();
    }
    await this.rotateBeforeAcknowledging();
    for (const item of batch) {
      if (item.kind === 'record') item.resolve({ seq: item.record.seq });
      else if (item.kind === 'commit') item.resolve({ seq: item.seq });
      else if (item.kind === 'rotate') item.resolve?.({ firstSeq: item.firstSeq });
    }
    this.rotateIfFull();
  }

  /**
   * Closes a full segment before the batch that filled it is acknowledged, when nothing else is
   * queued. A client that waits for its acknowledgement before the next put (the usual bulk
   * load) then finds the next segment ready: a put region can only be written once its segment
   * exists, and a rotation started while a large put arrives finishes late (its file operations
   * each wait for an event-loop turn, which the arriving data keeps busy).
   */
  private async rotateBeforeAcknowledging(): Promise<void> {
    const full = this.segment.sizeBytes >= this.segmentBytesMax;
    const idle = this.queue.length === 0 && this.tail.rotationsQueued === 0 && this.tail.position === this.segment.sizeBytes;
    if (!full || !idle || this.openRegions.size > 0 || this.segment.records === 0) return;
    // Anything queued meanwhile goes to the new segment: regions are placed once it exists.
    this.tail = { position: SEGMENT_HEADER_BYTES, records: 0, rotationsQueued: 1 };
    await this.rotateTo(this.nextSequence);
    this.tail.rotationsQueued--;
  }

  private rejectAll(batch: readonly Queued[], error: Error): void {
    this.metrics?.walWrites.inc({ status: 'error' }, recordsIn(batch));
    for (const item of batch) {
      if (item.kind === 'region') item.region.fail(error);
      else item.reject?.(error);
    }
  }

  /**
   * Extends the segment file over space reserved at its end and not written (a region whose
   * data never came): a reader then sees the region whole, not a torn tail.
   */
  private async settleLength(): Promise<void> {
    if ((await this.segment.file.sizeBytes()) < this.segment.sizeBytes) {
      this.unsyncedWrites = true;
      await this.segment.file.truncate(this.segment.sizeBytes);
    }
  }

  private async writeRun(run: readonly EncodedRecord[]): Promise<void> {
    if (run.length === 0) return;
    if (this.verifyBeforeWrite) {
      for (const record of run) {
        if (record.head[16] === RecordType.putRegion) continue; // its checksum covers its fields only
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
    this.countBytes(written);
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
    await Promise.allSettled([...this.regionWrites]); // abandoned regions' last writes
    await this.settleLength();
    await this.syncSegment();
    const closed = this.segment.file;
    const file = await createSegmentFile(this.files, this.directory, firstSeq, segmentOpenMode(this.syncMode));
    this.segment = { file, firstSeq, sizeBytes: SEGMENT_HEADER_BYTES, records: 0 };
    this.countNewSegment();
    // Its records are durable: closing it (a direct-I/O file cuts its zero padding, durably)
    // need not hold up the next records. A crash first leaves the padding, which the reader
    // takes for the end of the segment.
    const closing = closed.close().catch((error: unknown) => { this.failWith(error); });
    this.closingFiles.add(closing);
    void closing.then(() => this.closingFiles.delete(closing));
  }

  private countNewSegment(): void {
    this.segmentsCreated++;
    this.countBytes(SEGMENT_HEADER_BYTES);
  }

  private countBytes(written: number): void {
    this.bytesWritten += written;
    this.metrics?.walBytesWritten.inc(written);
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
  for (const item of batch) if (item.kind === 'record' || item.kind === 'commit') records++;
  return records;
}

/**
 * A put region: the log space of a put written while it arrives. Data (prefix, then body) is
 * checksummed and written in REGION_CHUNK_BYTES pieces as it lands and once the region is
 * placed, with at most REGION_WRITES_MAX writes in flight. The last piece may be short: the
 * region runs to a block boundary.
 */
class PutRegion implements StagedRecord {
  /** `orphaned`: its segment closed before its commit was queued; its put is appended whole. */
  state: 'open' | 'committing' | 'committed' | 'abandoned' | 'orphaned' = 'open';
  /** Data bytes that are final (prefix plus the body landed so far). */
  available: number;
  /** CRC32C of the data checksummed here so far (the prefix only, when the checksum thread has the body). */
  private crcState = 0;
  /** Checksums the body on the checksum thread (a body in shared memory), from crcState on. */
  private job: ChecksumJob | undefined;
  private checksumStarted = false;
  /** Data bytes the checksum covers so far. */
  private checksummed = 0;
  private position: number | undefined;
  private file: WalFile | undefined;
  private dispatched = 0;
  private inFlight = 0;
  private failure: unknown;
  private waiter: { resolve(): void; reject(error: unknown): void } | undefined;

  constructor(
    readonly writer: WalWriter,
    readonly seq: number,
    readonly dataset: string,
    private readonly pieces: readonly Uint8Array[],
    readonly body: Uint8Array,
    readonly dataBytes: number,
  ) {
    this.available = dataBytes - body.length;
    this.checksum();
  }

  landed(bytes: number): void {
    const available = this.dataBytes - this.body.length + bytes;
    if (available <= this.available) return;
    assert.ok(available <= this.dataBytes, `landed ${bytes} bytes of a ${this.body.length}-byte body`);
    this.available = available;
    this.checksum();
    this.pump();
  }

  /**
   * CRC32C of the data, once the body has landed whole: from the checksum thread when it took
   * the body, else computed here (also when that thread failed).
   */
  async finalCrc(): Promise<number> {
    assert.equal(this.checksummed, this.dataBytes, 'checksum of a region whose data has not all landed');
    if (!this.job) return this.crcState;
    try {
      return await this.job.end();
    } catch {
      let crc = this.crcState;
      for (const view of this.slice(this.dataBytes - this.body.length, this.dataBytes)) crc = crc32cUpdate(crc, view);
      return crc;
    }
  }

  /**
   * Checksums the bytes that just landed: a body in shared memory on the checksum thread, in
   * steps of CHECKSUM_STEP_BYTES; anything else here, while the socket read has it in the cache.
   */
  private checksum(): void {
    const bodyStart = this.dataBytes - this.body.length;
    if (!this.checksumStarted) {
      this.checksumStarted = true;
      for (const view of this.slice(0, bodyStart)) this.crcState = crc32cUpdate(this.crcState, view);
      this.checksummed = bodyStart;
      if (this.body.buffer instanceof SharedArrayBuffer && this.body.length >= CHECKSUM_STEP_BYTES) this.job = startChecksumJob(this.crcState);
    }
    if (this.job) {
      if (this.available - this.checksummed < CHECKSUM_STEP_BYTES && this.available < this.dataBytes) return;
      this.job.add(this.body.subarray(this.checksummed - bodyStart, this.available - bodyStart));
    } else {
      for (const view of this.slice(this.checksummed, this.available)) this.crcState = crc32cUpdate(this.crcState, view);
    }
    this.checksummed = this.available;
  }

  abandon(): void {
    if (this.state !== 'open' && this.state !== 'orphaned') return;
    this.state = 'abandoned';
    this.writer.regionClosed(this);
    this.fail(new Error('staged record abandoned'));
  }

  /** No more data writes (see WalWriter.queueRotation); the data stays available for an append. */
  orphan(): void {
    this.state = 'orphaned';
  }

  /** The put's whole payload (prefix, then body). */
  get data(): readonly Uint8Array[] { return this.pieces; }

  /** Data goes to `file` at offset `position` on (the head may still be queued). */
  place(file: WalFile, position: number): void {
    this.file = file;
    this.position = position;
    this.pump();
  }

  get placed(): boolean { return this.position !== undefined; }

  get complete(): boolean { return (this.state === 'open' || this.state === 'orphaned') && this.available === this.dataBytes; }

  /** Resolves once every data byte is written (the body must have landed whole). */
  drained(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.dispatched === this.dataBytes && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve, reject) => { this.waiter = { resolve, reject }; });
  }

  fail(error: unknown): void {
    this.failure ??= error;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
  }

  private pump(): void {
    if (this.position === undefined || this.failure !== undefined || this.state === 'abandoned' || this.state === 'orphaned') return;
    while (this.inFlight < REGION_WRITES_MAX) {
      const ready = this.available - this.dispatched;
      const last = this.available === this.dataBytes;
      if (ready === 0 || (ready < REGION_CHUNK_BYTES && !last)) return;
      const end = Math.min(this.dispatched + REGION_CHUNK_BYTES, this.available);
      const views = this.slice(this.dispatched, end);
      const at = this.position + this.dispatched;
      this.dispatched = end;
      this.inFlight++;
      this.writer.writeRegion(this.file!, views, at).then(() => {
        this.inFlight--;
        if (this.dispatched === this.dataBytes && this.inFlight === 0) {
          const waiter = this.waiter;
          this.waiter = undefined;
          waiter?.resolve();
        } else {
          this.pump();
        }
      }, (error: unknown) => {
        this.inFlight--;
        this.writer.failWith(error);
        this.fail(error);
      });
    }
  }

  /** Views of data bytes [from, to) across the pieces. */
  private slice(from: number, to: number): Uint8Array[] {
    const views: Uint8Array[] = [];
    let start = 0;
    for (const piece of this.pieces) {
      const end = start + piece.length;
      if (end > from && start < to) views.push(piece.subarray(Math.max(from - start, 0), Math.min(to, end) - start));
      start = end;
      if (start >= to) break;
    }
    return views;
  }
}
