/**
 * The server's Prometheus metrics: one private registry per LongbowServer (tests run several
 * servers in one process), handed to the parts that record into it. Store gauges (memory,
 * datasets, rows) are read at scrape time, so nothing on the write path updates them.
 * docs/metrics.md lists every metric; keep both in step.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { METRICS_ROWS_DATASETS_MAX } from '../limits.ts';
import { processMetricsRegistry } from './process-metrics.ts';

/** What the store gauges read at scrape time (the Store satisfies it). */
export interface StoreMetricsSource {
  readonly currentMemoryBytes: number;
  readonly maxMemoryBytes: number;
  list(): readonly { readonly name: string; readonly rows: number }[];
}

/** Label value that sums the datasets beyond the largest METRICS_ROWS_DATASETS_MAX in `longbow_rows`. */
export const OTHER_DATASETS_LABEL = '_other';

/** Flight calls: a unary call takes about a millisecond, a large DoPut or DoGet many seconds. */
const FLIGHT_DURATION_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** fsync: tens of microseconds on a fast NVMe device, tens of milliseconds on a slow disk. */
const FSYNC_DURATION_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Snapshots write every dataset: from milliseconds (empty) to minutes (gigabytes). */
const SNAPSHOT_DURATION_BUCKETS_SECONDS = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export type OutcomeStatus = 'ok' | 'error';

export interface LongbowMetricsOptions {
  /** `longbow_rows` gets one series per dataset for this many datasets (largest first), the rest under `_other`. */
  rowsDatasetsMax?: number;
  /** Append the Node process metrics (shared by every server in the process) to each scrape. Default true. */
  processMetrics?: boolean;
}

export class LongbowMetrics {
  readonly registry = new Registry();
  readonly flightOperations: Counter<'method' | 'status'>;
  readonly flightDuration: Histogram<'method'>;
  readonly flightBytesProcessed: Counter<'method'>;
  readonly walWrites: Counter<'status'>;
  readonly walBytesWritten: Counter;
  readonly walStreamedPuts: Counter;
  readonly walFsyncDuration: Histogram;
  readonly walReplayDuration: Gauge;
  readonly walReplayRecords: Gauge;
  readonly snapshotOperations: Counter<'status'>;
  readonly snapshotDuration: Histogram;
  readonly snapshotLastSuccess: Gauge;
  readonly configReloads: Counter<'status'>;
  readonly evictions: Counter<'reason'>;
  private readonly processMetrics: boolean;

  constructor(store: StoreMetricsSource, options: LongbowMetricsOptions = {}) {
    const registers = [this.registry];
    this.processMetrics = options.processMetrics ?? true;
    this.flightOperations = new Counter({
      name: 'longbow_flight_operations_total', help: 'Flight calls finished, by RPC method and gRPC status name.',
      labelNames: ['method', 'status'], registers,
    });
    this.flightDuration = new Histogram({
      name: 'longbow_flight_duration_seconds', help: 'Duration of Flight calls, from the request headers to the final status.',
      labelNames: ['method'], buckets: FLIGHT_DURATION_BUCKETS_SECONDS, registers,
    });
    this.flightBytesProcessed = new Counter({
      name: 'longbow_flight_bytes_processed_total',
      help: 'Arrow IPC bytes (header, body, app_metadata) received by DoPut and sent by DoGet; DoExchange counts both.',
      labelNames: ['method'], registers,
    });
    this.walWrites = new Counter({
      name: 'longbow_wal_writes_total', help: 'Write-ahead log records (one per DoPut batch or drop): ok once durable, error when refused or failed.',
      labelNames: ['status'], registers,
    });
    this.walBytesWritten = new Counter({ name: 'longbow_wal_bytes_written_total', help: 'Bytes written to write-ahead log segments (records and segment headers).', registers });
    this.walStreamedPuts = new Counter({
      name: 'longbow_wal_streamed_puts_total', help: 'DoPut batches written to the write-ahead log while they arrived (LONGBOW_WAL_STREAM_SIZE), counted once committed.', registers,
    });
    this.walFsyncDuration = new Histogram({
      name: 'longbow_wal_fsync_duration_seconds', help: 'Duration of each write-ahead log fsync (one per group commit).',
      buckets: FSYNC_DURATION_BUCKETS_SECONDS, registers,
    });
    this.walReplayDuration = new Gauge({ name: 'longbow_wal_replay_duration_seconds', help: 'Time the last startup spent replaying the write-ahead log (after loading the snapshot).', registers });
    this.walReplayRecords = new Gauge({ name: 'longbow_wal_replay_records', help: 'Write-ahead log records replayed at the last startup.', registers });
    this.snapshotOperations = new Counter({
      name: 'longbow_snapshot_operations_total', help: 'Snapshots taken (timer and force_snapshot), by outcome.', labelNames: ['status'], registers,
    });
    this.snapshotDuration = new Histogram({
      name: 'longbow_snapshot_duration_seconds', help: 'Duration of snapshots, successful or not.', buckets: SNAPSHOT_DURATION_BUCKETS_SECONDS, registers,
    });
    this.snapshotLastSuccess = new Gauge({
      name: 'longbow_snapshot_last_success_timestamp_seconds', help: 'Unix time of the last successful snapshot; 0 before the first.', registers,
    });
    this.configReloads = new Counter({
      name: 'longbow_config_reloads_total', help: 'Configuration reloads (SIGHUP): ok when applied, error when the new configuration was invalid.',
      labelNames: ['status'], registers,
    });
    this.evictions = new Counter({ name: 'longbow_evictions_total', help: 'Datasets dropped by the server itself, by reason (ttl).', labelNames: ['reason'], registers });
    this.storeGauges(store, options.rowsDatasetsMax ?? METRICS_ROWS_DATASETS_MAX);
    // Series that alerts compare against exist from the start, at zero.
    for (const status of ['ok', 'error'] as const) {
      this.walWrites.inc({ status }, 0);
      this.snapshotOperations.inc({ status }, 0);
      this.configReloads.inc({ status }, 0);
    }
    this.evictions.inc({ reason: 'ttl' }, 0);
    this.snapshotLastSuccess.set(0);
  }

  /** Records one finished Flight call; `bytes` are the FlightData payload bytes it moved. */
  recordCall(method: string, status: string, durationSeconds: number, bytes: number): void {
    this.flightOperations.inc({ method, status });
    this.flightDuration.observe({ method }, durationSeconds);
    this.flightBytesProcessed.inc({ method }, bytes);
  }

  /** Records one snapshot attempt. */
  recordSnapshot(status: OutcomeStatus, durationSeconds: number): void {
    this.snapshotOperations.inc({ status });
    this.snapshotDuration.observe(durationSeconds);
    if (status === 'ok') this.snapshotLastSuccess.set(Date.now() / 1000);
  }

  /** The Prometheus text content type of `scrape()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric in Prometheus text format: this server's, then the Node process metrics. */
  async scrape(): Promise<string> {
    const own = await this.registry.metrics();
    if (!this.processMetrics) return own;
    return `${own}\n${await processMetricsRegistry().metrics()}`;
  }

  private storeGauges(store: StoreMetricsSource, rowsDatasetsMax: number): void {
    const registers = [this.registry];
    new Gauge({
      name: 'longbow_memory_used_bytes', help: 'Bytes of stored data counted against the memory limit.', registers,
      collect() { this.set(store.currentMemoryBytes); },
    });
    new Gauge({
      name: 'longbow_memory_limit_bytes', help: 'The memory limit (LONGBOW_MAX_MEMORY) in bytes; 0 means unlimited.', registers,
      collect() { this.set(store.maxMemoryBytes); },
    });
    new Gauge({
      name: 'longbow_datasets', help: 'Datasets in the store.', registers,
      collect() { this.set(store.list().length); },
    });
    new Gauge({
      name: 'longbow_rows', help: `Rows per dataset, for the ${rowsDatasetsMax} largest datasets; the others summed under dataset="${OTHER_DATASETS_LABEL}".`,
      labelNames: ['dataset'], registers,
      collect() {
        this.reset();
        for (const [dataset, rows] of boundedRows(store.list(), rowsDatasetsMax)) this.set({ dataset }, rows);
      },
    });
  }
}

/**
 * Rows by dataset label: the `max` datasets with the most rows under their own names (ties by
 * name, so the set is stable between scrapes), the rest summed under OTHER_DATASETS_LABEL.
 */
export function boundedRows(datasets: readonly { readonly name: string; readonly rows: number }[], max: number): Map<string, number> {
  const sorted = [...datasets].sort((a, b) => b.rows - a.rows || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out = new Map<string, number>();
  sorted.forEach((dataset, index) => {
    const label = index < max ? dataset.name : OTHER_DATASETS_LABEL;
    out.set(label, (out.get(label) ?? 0) + dataset.rows);
  });
  return out;
}
