/**
 * LongbowServer: the store and the Flight service on the data and meta ports. Knows nothing
 * of processes or signals (main.ts does), so tests can run it in-process.
 */
import { FlightServer, statusName } from '@longbow/flight';
import type { Config } from './config/config.ts';
import type { Logger } from './log/logger.ts';
import { Store } from './store/store.ts';
import { LongbowFlightService } from './service/flight-service.ts';
import { SHUTDOWN_GRACE_MS } from './limits.ts';
import { WalJournal, openJournal, snapshotRoot, type ClosableJournal } from './persistence.ts';
import { Snapshotter } from './snapshot/snapshotter.ts';
import type { ActionContext } from './actions/action.ts';
import type { FileLayer } from './wal/index.ts';
import { ConfigReloader, type ReloadableSetting } from './config/reloader.ts';
import type { Environment } from './config/env-file.ts';
import { TtlEvictor } from './store/ttl-evictor.ts';
import { VectorIndexes } from './store/vector-indexes.ts';
import { VectorSearch } from './service/vector-search.ts';
import { LongbowMetrics } from './metrics/longbow-metrics.ts';
import { MetricsHttpServer, type HealthState } from './metrics/metrics-http-server.ts';
// Loads usearch's native addon and checks its version now, so a bad install stops the server at startup.
import './index/usearch-native.ts';

export interface ListeningAddresses {
  dataAddr: string;
  metaAddr: string;
  /** The metrics HTTP endpoint (`/metrics`, `/healthz`). */
  metricsAddr: string;
}

function withPort(address: string, port: number): string {
  return address.replace(/:\d+$/, `:${port}`);
}

export class LongbowServer {
  readonly store: Store;
  private readonly flight: FlightServer;
  private readonly logger: Logger;
  private config: Config;
  private readonly ttlEvictor: TtlEvictor;
  /** Every dataset's vector index, fed by the store. */
  readonly vectorIndexes: VectorIndexes;
  /** Hot reload: main.ts calls `reloader.request()` on SIGHUP. */
  readonly reloader: ConfigReloader;
  private journal: ClosableJournal | undefined;
  private readonly actionContext: ActionContext;
  snapshotter: Snapshotter | undefined;
  /** This server's Prometheus metrics (its own registry). */
  readonly metrics: LongbowMetrics;
  private readonly metricsServer: MetricsHttpServer;
  private healthState: HealthState = 'starting';
  /** Called when the server cannot go on (the WAL failed); main.ts exits. */
  onFatal: (error: Error) => void = () => {};

  /** `files` replaces the WAL's file layer (tests inject faults through it). */
  /**
   * `files` replaces the WAL's file layer (tests inject faults through it); `readEnvironment`
   * is where a reload reads the configuration from (the process environment and .env).
   */
  constructor(config: Config, logger: Logger, private readonly files?: FileLayer, readEnvironment?: () => Environment) {
    this.config = config;
    this.logger = logger;
    this.store = new Store({ maxMemoryBytes: config.maxMemoryBytes });
    this.metrics = new LongbowMetrics(this.store);
    this.metricsServer = new MetricsHttpServer({
      metrics: this.metrics, logger,
      health: () => ({ state: this.healthState, details: this.healthState === 'serving' ? this.healthDetails() : undefined }),
    });
    this.vectorIndexes = new VectorIndexes(this.store, {
      m: config.hnswM, efConstruction: config.hnswEfConstruction, efSearch: config.hnswEfSearch, storage: config.hnswStorage, logger,
      indexOptions: config.vectorIndex === 'exact' ? { flatOnlyBytesMax: Infinity } : undefined,
    });
    this.actionContext = {
      store: this.store, config, logger, startedAtMs: Date.now(), metrics: this.metrics,
      vectorIndexes: this.vectorIndexes, vectorSearch: new VectorSearch(this.store, this.vectorIndexes),
    };
    this.ttlEvictor = new TtlEvictor(this.store, logger, () => this.actionContext.metrics?.evictions.inc({ reason: 'ttl' }));
    this.reloader = new ConfigReloader(config, {
      apply: (next, changed) => this.applyConfig(next, changed),
      counted: (outcome) => this.actionContext.metrics?.configReloads.inc({ status: outcome }),
    }, logger, readEnvironment);
    const service = new LongbowFlightService(this.actionContext);
    this.flight = new FlightServer(service, {
      messageBytesMax: config.grpcMessageBytesMax,
      flowControlWindowBytes: config.grpcWindowBytes,
      transport: config.grpcTransport,
      beforeCall: (call) => service.authenticate(call),
      onError: (error, call) => logger.error({ err: error, method: call.method, peer: call.peer }, 'Unexpected error in call'),
      onCallEnd: (outcome) => {
        const status = statusName(outcome.code);
        this.metrics.recordCall(outcome.method, status, outcome.durationSeconds, outcome.bytesReceived + outcome.bytesSent);
        logger.debug({
          method: outcome.method, status, duration_ms: Math.round(outcome.durationSeconds * 1000), peer: outcome.peer,
        }, 'Call finished');
      },
    });
  }

  /** Recovers the data (WAL replay), then listens. Throws RecoveryError on a corrupt WAL. */
  async start(): Promise<ListeningAddresses> {
    // Up first, so /healthz answers 503 "starting" during a long recovery.
    const metricsPort = await this.metricsServer.listen(this.config.metricsAddr);
    try {
      return await this.startServing(withPort(this.config.metricsAddr, metricsPort));
    } catch (error) {
      await this.metricsServer.close();
      throw error;
    }
  }

  private async startServing(metricsAddr: string): Promise<ListeningAddresses> {
    this.journal = await openJournal(this.store, this.config, this.logger, {
      onFatal: (error) => {
        this.logger.fatal({ err: error }, 'Write-ahead log failed: stopping (acknowledged writes are safe, later ones were refused)');
        this.onFatal(error);
      },
      files: this.files,
      metrics: this.metrics,
      preloadIndex: (dataset, directory) => this.vectorIndexes.preload(dataset.name, dataset.schema, directory, dataset.batches.reduce((sum, batch) => sum + batch.numRows, 0)),
    });
    this.store.attachJournal(this.journal);
    if (this.journal instanceof WalJournal) {
      this.snapshotter = new Snapshotter(this.store, snapshotRoot(this.config), this.journal, this.logger, this.metrics);
      this.snapshotter.saveIndex = (dataset, directory) => this.vectorIndexes.save(dataset, directory);
      this.snapshotter.schedule(this.config.snapshotIntervalMs);
      this.actionContext.snapshotter = this.snapshotter;
    }
    this.ttlEvictor.setTtl(this.config.ttlMs);
    const dataPort = await this.flight.listen(this.config.listenAddr);
    const metaPort = await this.flight.listen(this.config.metaAddr);
    const addresses = { dataAddr: withPort(this.config.listenAddr, dataPort), metaAddr: withPort(this.config.metaAddr, metaPort), metricsAddr };
    this.healthState = 'serving';
    this.logger.info({
      data_addr: addresses.dataAddr, meta_addr: addresses.metaAddr, metrics_addr: metricsAddr, max_memory: this.config.maxMemoryBytes,
      auth: this.config.authToken !== undefined,
    }, 'Longbow listening');
    return addresses;
  }

  private healthDetails(): Record<string, unknown> {
    return { uptime_seconds: Math.round((Date.now() - this.actionContext.startedAtMs) / 1000), datasets: this.store.list().length };
  }

  /** The configuration in force (reloads change its reloadable settings). */
  get currentConfig(): Config { return this.config; }

  /** Applies reloaded settings; lowering the memory limit refuses new writes, never drops data. */
  private applyConfig(next: Config, changed: ReloadableSetting[]): void {
    this.config = next;
    this.actionContext.config = next;
    if (changed.includes('maxMemoryBytes')) {
      this.store.maxMemoryBytes = next.maxMemoryBytes;
      if (next.maxMemoryBytes > 0 && this.store.currentMemoryBytes > next.maxMemoryBytes) {
        this.logger.warn({ current_memory: this.store.currentMemoryBytes, max_memory: next.maxMemoryBytes },
          'Memory in use is above the new limit: new writes are refused until it is raised or datasets are dropped');
      }
    }
    if (changed.includes('snapshotIntervalMs')) this.snapshotter?.schedule(next.snapshotIntervalMs);
    if (changed.includes('ttlMs')) this.ttlEvictor.setTtl(next.ttlMs);
  }

  /** Evicts idle datasets now (tests; the timer does it otherwise). */
  evictIdle(): Promise<string[]> {
    return this.ttlEvictor.sweep();
  }

  async stop(): Promise<void> {
    this.healthState = 'stopping';
    this.logger.info('Shutting down: no new calls, waiting for running calls');
    this.ttlEvictor.close();
    try {
      await this.flight.shutdown(SHUTDOWN_GRACE_MS);
      await this.snapshotter?.close();
      await this.journal?.close();
    } finally {
      await this.vectorIndexes.close();
      await this.metricsServer.close();
    }
    this.logger.info('Shutdown complete');
  }
}
