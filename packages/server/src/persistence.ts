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
import type { Journal, Store } from './store/store.ts';
import { RecordType, WalCorruptionError, WalRecovery, WalWriter, WalWriterFailedError, type FileLayer, type WalRecord } from './wal/index.ts';

/** Arrow IPC stream bytes of one batch: schema, the dictionaries it uses, the batch. */
export function serializeBatch(batch: RecordBatch): Uint8Array {
  const encoder = new FlightDataEncoder(batch.schema);
  return Buffer.concat(ipcStreamPieces([encoder.schemaMessage(), ...encoder.batchMessages(batch)]));
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
  async close(): Promise<void> {}
}

/** The WAL as the store's journal. A failed write fails the writer for good: `onFatal` stops the server. */
export class WalJournal implements ClosableJournal {
  constructor(private readonly writer: WalWriter, private readonly onFatal: (error: Error) => void) {}

  appendPut(dataset: string, payload: Uint8Array): Promise<number> {
    return this.append(RecordType.put, dataset, payload);
  }

  appendDrop(dataset: string): Promise<number> {
    return this.append(RecordType.drop, dataset, new Uint8Array(0));
  }

  close(): Promise<void> {
    return this.writer.close();
  }

  get walWriter(): WalWriter {
    return this.writer;
  }

  private async append(type: RecordType, dataset: string, payload: Uint8Array): Promise<number> {
    try {
      return (await this.writer.append(type, dataset, payload)).seq;
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
  return 0;
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
export async function openJournal(store: Store, config: Config, logger: Logger, onFatal: (error: Error) => void,
  files?: FileLayer): Promise<ClosableJournal> {
  if (config.walSync === 'off') {
    logger.warn('LONGBOW_WAL_SYNC=off: no write-ahead log, data lives in memory only and is lost when the server stops');
    return new NoJournal();
  }
  const directory = join(config.dataPath, 'wal');
  const startedNs = process.hrtime.bigint();
  const recovery = new WalRecovery({ directory, afterSeq: 0, recovery: config.walRecovery, files });
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
  if (report.tornTail) {
    logger.warn({ file: report.tornTail.file, offset: report.tornTail.offset }, 'WAL ends with a torn record (crash during a write); cutting it off');
    await recovery.truncateTail();
  }
  if (report.truncation) logger.error({ ...report.truncation }, 'WAL truncated at a corrupt record (LONGBOW_WAL_RECOVERY=truncate): later records are lost');
  const durationMs = Number(process.hrtime.bigint() - startedNs) / 1e6;
  logger.info({
    records: report.recordsReplayed, rows, datasets: store.list().length, duration_ms: Math.round(durationMs), next_seq: report.nextSeq,
  }, 'Recovery complete');
  if (config.walSync === 'none') {
    logger.warn('LONGBOW_WAL_SYNC=none: writes are acknowledged before they reach the disk; a power failure or kernel crash loses them');
  }
  const writer = await WalWriter.open({
    directory, nextSeq: report.nextSeq, sync: config.walSync, segmentBytesMax: config.walSegmentBytesMax, verifyBeforeWrite: false, files,
  });
  return new WalJournal(writer, onFatal);
}
