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
import { WalJournal, openJournal, serializeBatch, snapshotRoot, type ClosableJournal } from './persistence.ts';
import { Snapshotter } from './snapshot/snapshotter.ts';
import type { ActionContext } from './actions/action.ts';
import type { FileLayer } from './wal/index.ts';

export interface ListeningAddresses {
  dataAddr: string;
  metaAddr: string;
}

function withPort(address: string, port: number): string {
  return address.replace(/:\d+$/, `:${port}`);
}

export class LongbowServer {
  readonly store: Store;
  private readonly flight: FlightServer;
  private readonly logger: Logger;
  private readonly config: Config;
  private journal: ClosableJournal | undefined;
  private readonly actionContext: ActionContext;
  snapshotter: Snapshotter | undefined;
  /** Called when the server cannot go on (the WAL failed); main.ts exits. */
  onFatal: (error: Error) => void = () => {};

  /** `files` replaces the WAL's file layer (tests inject faults through it). */
  constructor(config: Config, logger: Logger, private readonly files?: FileLayer) {
    this.config = config;
    this.logger = logger;
    this.store = new Store({ maxMemoryBytes: config.maxMemoryBytes });
    this.actionContext = { store: this.store, config, logger, startedAtMs: Date.now() };
    const service = new LongbowFlightService(this.actionContext);
    this.flight = new FlightServer(service, {
      messageBytesMax: config.grpcMessageBytesMax,
      flowControlWindowBytes: config.grpcWindowBytes,
      beforeCall: (call) => service.authenticate(call),
      onError: (error, call) => logger.error({ err: error, method: call.method, peer: call.peer }, 'Unexpected error in call'),
      onCallEnd: (outcome) => logger.debug({
        method: outcome.method, status: statusName(outcome.code), duration_ms: Math.round(outcome.durationSeconds * 1000), peer: outcome.peer,
      }, 'Call finished'),
    });
  }

  /** Recovers the data (WAL replay), then listens. Throws RecoveryError on a corrupt WAL. */
  async start(): Promise<ListeningAddresses> {
    this.journal = await openJournal(this.store, this.config, this.logger, (error) => {
      this.logger.fatal({ err: error }, 'Write-ahead log failed: stopping (acknowledged writes are safe, later ones were refused)');
      this.onFatal(error);
    }, this.files);
    this.store.attachJournal(this.journal, serializeBatch);
    if (this.journal instanceof WalJournal) {
      this.snapshotter = new Snapshotter(this.store, snapshotRoot(this.config), this.journal, this.logger);
      this.snapshotter.schedule(this.config.snapshotIntervalMs);
      this.actionContext.snapshotter = this.snapshotter;
    }
    const dataPort = await this.flight.listen(this.config.listenAddr);
    const metaPort = await this.flight.listen(this.config.metaAddr);
    const addresses = { dataAddr: withPort(this.config.listenAddr, dataPort), metaAddr: withPort(this.config.metaAddr, metaPort) };
    this.logger.info({
      data_addr: addresses.dataAddr, meta_addr: addresses.metaAddr, max_memory: this.config.maxMemoryBytes,
      auth: this.config.authToken !== undefined,
    }, 'Longbow listening');
    return addresses;
  }

  async stop(): Promise<void> {
    this.logger.info('Shutting down: no new calls, waiting for running calls');
    await this.flight.shutdown(SHUTDOWN_GRACE_MS);
    await this.snapshotter?.close();
    await this.journal?.close();
    this.logger.info('Shutdown complete');
  }
}
