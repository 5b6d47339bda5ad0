/**
 * Taking snapshots: on demand (force_snapshot) and on a timer. The store's state is captured
 * synchronously (its batch arrays are immutable, so writes go on while files are written);
 * after the snapshot is current, older snapshots and fully covered WAL segments are deleted.
 * One snapshot runs at a time; a request made meanwhile waits and takes its own.
 */
import { withSchema, type Dataset } from '../store/dataset.ts';
import type { Store } from '../store/store.ts';
import type { Logger } from '../log/logger.ts';
import type { LongbowMetrics } from '../metrics/longbow-metrics.ts';
import { removeOtherSnapshots, writeSnapshot, type CapturedDataset } from './snapshot-writer.ts';

/** What the log needs to offer snapshots (the WAL journal; absent with LONGBOW_WAL_SYNC=off). */
export interface SnapshotLog {
  rotate(): Promise<unknown>;
  deleteSegmentsUpTo(seq: number): Promise<string[]>;
}

export interface SnapshotResult {
  id: string;
  seq: number;
  bytes: number;
  datasets: number;
  rows: number;
  durationMs: number;
  walSegmentsDeleted: number;
}

export class Snapshotter {
  private running: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  lastSnapshot: SnapshotResult & { at: string } | undefined;
  /** Saves a dataset's vector index beside it (false: it has none); set by the server. */
  saveIndex: ((dataset: Dataset, directory: string) => Promise<boolean>) | undefined;
  /** Counters for metrics and get_stats. */
  succeeded = 0;
  failed = 0;

  constructor(private readonly store: Store, private readonly root: string, private readonly log: SnapshotLog | undefined,
    private readonly logger: Logger, private readonly metrics?: LongbowMetrics) {}

  /** Takes a snapshot after any running one; rejects when writing it fails (nothing is deleted then). */
  snapshot(): Promise<SnapshotResult> {
    const next = this.running.then(() => this.take(), () => this.take());
    this.running = next.catch(() => undefined);
    return next;
  }

  /** Restarts the timer with `intervalMs` (0 stops it). */
  schedule(intervalMs: number): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (intervalMs <= 0) return;
    this.timer = setInterval(() => {
      this.snapshot().catch(() => { /* logged in take() */ });
    }, intervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.schedule(0);
    await this.running;
  }

  /** `liveRows`: rows not deleted, over all datasets (the files hold deleted rows too). */
  private capture(): { seq: number; datasets: CapturedDataset[]; liveRows: number } {
    const seq = this.store.lastSequence;
    const saveIndex = this.saveIndex;
    let liveRows = 0;
    const datasets = this.store.list().map((dataset) => {
      const view = dataset.rowsView; // immutable: batches and tombstones as of `seq`
      liveRows += view.liveRows;
      return {
        name: dataset.name,
        schema: dataset.schema,
        batches: view.batches.map((batch) => withSchema(batch, dataset.schema)),
        rows: view.totalRows,
        deleted: view.deletedRows > 0 ? view.deletedBitmap() : undefined,
        ...(saveIndex ? { saveIndex: (directory: string) => saveIndex(dataset, directory) } : {}),
      };
    });
    return { seq, datasets, liveRows };
  }

  private async take(): Promise<SnapshotResult> {
    const startedNs = process.hrtime.bigint();
    const { seq, datasets, liveRows } = this.capture();
    try {
      const rotation = this.log?.rotate();
      rotation?.catch(() => undefined); // awaited below; a failure of the write first must not leave it unhandled
      const written = await writeSnapshot(this.root, seq, datasets);
      await rotation;
      const deleted = (await this.log?.deleteSegmentsUpTo(seq)) ?? [];
      await removeOtherSnapshots(this.root, written.manifest.id);
      const result: SnapshotResult = {
        id: written.manifest.id, seq, bytes: written.bytes, datasets: datasets.length,
        rows: liveRows,
        durationMs: Number(process.hrtime.bigint() - startedNs) / 1e6,
        walSegmentsDeleted: deleted.length,
      };
      this.succeeded += 1;
      this.metrics?.recordSnapshot('ok', result.durationMs / 1000);
      this.lastSnapshot = { ...result, at: new Date().toISOString() };
      this.logger.info({
        id: result.id, seq, bytes: result.bytes, datasets: result.datasets, rows: result.rows,
        duration_ms: Math.round(result.durationMs), wal_segments_deleted: result.walSegmentsDeleted,
        mb_per_s: Math.round(result.bytes / 1e6 / Math.max(result.durationMs / 1000, 1e-6)),
      }, 'Snapshot created');
      return result;
    } catch (error) {
      this.failed += 1;
      this.metrics?.recordSnapshot('error', Number(process.hrtime.bigint() - startedNs) / 1e9);
      this.logger.error({ err: error, seq }, 'Snapshot failed');
      throw error;
    }
  }
}
