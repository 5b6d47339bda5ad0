/**
 * Durability wiring: recovery at startup (replay the write-ahead log into the store) and the
 * journal the store writes through. The store knows only the Journal interface.
 */
import { join } from 'node:path';
import type { RecordBatch } from 'apache-arrow';
import { FlightDataDecoder, FlightDataEncoder, ipcStreamPieces, splitIpcStream } from '@longbow/flight';
import type { Config } from './config/config.ts';
import { longbowError } from './errors.ts';
import type { Logger } from './log/logger.ts';
import type { LongbowMetrics } from './metrics/longbow-metrics.ts';
import type { Journal, StagedPut, Store } from './store/store.ts';
import { keysOfIdsBatch } from './store/ids-batch.ts';
import { SnapshotCorruptionError, loadCurrentSnapshot, removeTemporarySnapshots, type LoadedDataset } from './snapshot/snapshot-reader.ts';
import {
  RecordType, WalCorruptionError, WalRecovery, WalWriter, WalWriterFailedError, type FileLayer, type WalRecord,
} from './wal/index.ts';

/**
 * Arrow IPC stream bytes of one batch (schema, the dictionaries it uses, the batch) as pieces to
 * be written back to back: the bodies are views of the batch's buffers, not copies, so the WAL
 * checksums and writes them without concatenating (they must stay unchanged until it has).
 */
function serializeBatch(batch: RecordBatch): Uint8Array[] {
  const encoder = new FlightDataEncoder(batch.schema);
  return ipcStreamPieces([encoder.schemaMessage(), ...encoder.batchMessages(batch)]);
}

function deserializeBatches(payload: Uint8Array): RecordBatch[] {
  const decoder = new FlightDataDecoder();
  const batches: RecordBatch[] = [];
  for (const message of splitIpcStream(payload)) {
    const decoded = decoder.decode(message);
    if (decoded.kind === 'batch') batches.push(decoded.batch);
  }
  return batches;
}

/** A journal that can be closed at shutdown. */
export interface ClosableJournal extends Journal {
  close(): Promise<void>;
}

/** LONGBOW_WAL_SYNC=off: sequences only, nothing written (a memory-only cache). */
class NoJournal implements ClosableJournal {
  private sequence = 0;
  async appendPut(): Promise<number> { return ++this.sequence; }
  async appendDrop(): Promise<number> { return ++this.sequence; }
  async appendDelete(): Promise<number> { return ++this.sequence; }
  async close(): Promise<void> {}
}

/** The WAL as the store's journal. A failed write fails the writer for good: `onFatal` stops the server. */
export class WalJournal implements ClosableJournal {
  /** Batches are logged as Arrow IPC stream bytes. */
  readonly serialize = serializeBatch;
  constructor(private readonly writer: WalWriter, private readonly onFatal: (error: Error) => void) {}

  appendPut(dataset: string, payload: Uint8Array | readonly Uint8Array[]): Promise<number> {
    return this.append(RecordType.put, dataset, payload);
  }

  appendDrop(dataset: string): Promise<number> {
    return this.append(RecordType.drop, dataset, new Uint8Array(0));
  }

  stagePut(dataset: string, prefix: readonly Uint8Array[], body: Uint8Array): StagedPut | null {
    return this.writer.stage(dataset, prefix, body);
  }

  commitStagedPut(staged: StagedPut): Promise<number> {
    return this.durable(() => this.writer.commitStaged(staged));
  }

  appendDelete(dataset: string, payload: Uint8Array | readonly Uint8Array[]): Promise<number> {
    return this.append(RecordType.deleteRows, dataset, payload);
  }

  close(): Promise<void> {
    return this.writer.close();
  }

  rotate(): Promise<unknown> {
    return this.writer.rotate();
  }

  deleteSegmentsUpTo(seq: number): Promise<string[]> {
    return this.writer.deleteSegmentsUpTo(seq);
  }

  private append(type: RecordType, dataset: string, payload: Uint8Array | readonly Uint8Array[]): Promise<number> {
    return this.durable(() => this.writer.append(type, dataset, payload));
  }

  /** The sequence of a write once durable; a failed writer stops the server. */
  private async durable(write: () => Promise<{ seq: number }>): Promise<number> {
    try {
      return (await write()).seq;
    } catch (error) {
      if (error instanceof WalWriterFailedError || this.writer.failed) this.onFatal(error as Error);
      throw longbowError('WAL_UNAVAILABLE', 'the write was not acknowledged; the server is stopping');
    }
  }
}

function applyRecord(store: Store, record: WalRecord): number {
  if (record.type === RecordType.put) {
    const batches = deserializeBatches(record.payload);
    store.replayPut(record.dataset, batches, record.seq);
    return batches.reduce((sum, batch) => sum + batch.numRows, 0);
  }
  if (record.type === RecordType.drop) store.replayDrop(record.dataset, record.seq);
  if (record.type === RecordType.deleteRows) {
    store.replayDelete(record.dataset, deserializeBatches(record.payload).flatMap(keysOfIdsBatch), record.seq);
  }
  return 0;
}

/** The snapshot directory under the data path. */
export function snapshotRoot(config: Config): string {
  return join(config.dataPath, 'snapshots');
}

/**
 * Loads the current snapshot into the store; returns its sequence (0 without one). A corrupt
 * snapshot stops startup unless LONGBOW_WAL_RECOVERY=truncate (then the log alone is replayed).
 */
async function loadSnapshot(store: Store, config: Config, logger: Logger, preloadIndex: JournalOptions['preloadIndex']): Promise<number> {
  const root = snapshotRoot(config);
  for (const name of await removeTemporarySnapshots(root)) logger.warn({ directory: name }, 'Removed a half-written snapshot (crash during a snapshot)');
  const startedNs = process.hrtime.bigint();
  let snapshot;
  try {
    snapshot = await loadCurrentSnapshot(root);
  } catch (error) {
    if (!(error instanceof SnapshotCorruptionError)) throw error;
    if (config.walRecovery !== 'truncate') {
      throw new RecoveryError(`${error.message}; set LONGBOW_WAL_RECOVERY=truncate to start from the write-ahead log alone`);
    }
    logger.error({ file: error.file, err: error }, 'Snapshot unreadable, LONGBOW_WAL_RECOVERY=truncate: starting from the write-ahead log alone');
    return 0;
  }
  if (!snapshot) return 0;
  for (const dataset of snapshot.datasets) {
    if (dataset.indexDirectory !== undefined) await preloadIndex?.(dataset, dataset.indexDirectory);
    store.restoreDataset(dataset.name, dataset.schema, dataset.batches, dataset.deleted, snapshot.manifest.seq);
  }
  store.restoreSequence(snapshot.manifest.seq);
  const durationMs = Number(process.hrtime.bigint() - startedNs) / 1e6;
  logger.info({
    id: snapshot.manifest.id, seq: snapshot.manifest.seq, datasets: snapshot.datasets.length, bytes: snapshot.bytes,
    duration_ms: Math.round(durationMs), mb_per_s: Math.round(snapshot.bytes / 1e6 / Math.max(durationMs / 1000, 1e-6)),
  }, 'Snapshot loaded');
  return snapshot.manifest.seq;
}

/** Thrown when startup must stop: the message names the file and offset. */
export class RecoveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecoveryError';
  }
}

/**
 * Replays the WAL into the store, cuts a torn tail (WARN), and opens the writer after the last
 * record. Corruption before the tail throws RecoveryError unless LONGBOW_WAL_RECOVERY=truncate.
 */
export interface JournalOptions {
  /** Called when the WAL fails for good (the server stops). */
  onFatal: (error: Error) => void;
  /** Replaces the file layer (tests inject faults through it). */
  files?: FileLayer;
  metrics?: LongbowMetrics;
  /** Reopens a dataset's vector index saved in the snapshot, before its rows are restored. */
  preloadIndex?: (dataset: LoadedDataset, indexDirectory: string) => Promise<void>;
}

export async function openJournal(store: Store, config: Config, logger: Logger, options: JournalOptions): Promise<ClosableJournal> {
  const { onFatal, files, metrics } = options;
  if (config.walSync === 'off') {
    logger.warn('LONGBOW_WAL_SYNC=off: no write-ahead log, data lives in memory only and is lost when the server stops');
    return new NoJournal();
  }
  const directory = join(config.dataPath, 'wal');
  const startedNs = process.hrtime.bigint();
  const snapshotSeq = await loadSnapshot(store, config, logger, options.preloadIndex);
  const recovery = new WalRecovery({ directory, afterSeq: snapshotSeq, recovery: config.walRecovery, files });
  const replayStartedNs = process.hrtime.bigint();
  let rows = 0;
  try {
    for await (const record of recovery.records()) rows += applyRecord(store, record);
  } catch (error) {
    if (error instanceof WalCorruptionError) {
      throw new RecoveryError(`${error.message}; set LONGBOW_WAL_RECOVERY=truncate to start without the records from there on`);
    }
    throw error;
  }
  const report = recovery.report;
  if (report.tornTail?.padding) {
    logger.info({ file: report.tornTail.file, offset: report.tornTail.offset }, 'WAL segment ends in write padding (not closed cleanly); cutting it off');
    await recovery.truncateTail();
  } else if (report.tornTail) {
    logger.warn({ file: report.tornTail.file, offset: report.tornTail.offset }, 'WAL ends with a torn record (crash during a write); cutting it off');
    await recovery.truncateTail();
  }
  if (report.truncation) logger.error({ ...report.truncation }, 'WAL truncated at a corrupt record (LONGBOW_WAL_RECOVERY=truncate): later records are lost');
  metrics?.walReplayDuration.set(Number(process.hrtime.bigint() - replayStartedNs) / 1e9);
  metrics?.walReplayRecords.set(report.recordsReplayed);
  const durationMs = Number(process.hrtime.bigint() - startedNs) / 1e6;
  logger.info({
    snapshot_seq: snapshotSeq, records: report.recordsReplayed, wal_rows: rows, rows: store.list().reduce((sum, d) => sum + d.rows, 0),
    datasets: store.list().length, duration_ms: Math.round(durationMs), next_seq: report.nextSeq,
  }, 'Recovery complete');
  if (config.walSync === 'none') {
    logger.warn('LONGBOW_WAL_SYNC=none: writes are acknowledged before they reach the disk; a power failure or kernel crash loses them');
  }
  const writer = await WalWriter.open({
    directory, nextSeq: Math.max(report.nextSeq, snapshotSeq + 1), sync: config.walSync, segmentBytesMax: config.walSegmentBytesMax, verifyBeforeWrite: false, files,
    metrics,
  });
  return new WalJournal(writer, onFatal);
}
