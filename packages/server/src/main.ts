/**
 * The server process: configuration, logging, signals, exit codes. SIGTERM/SIGINT stop the
 * server cleanly; SIGHUP reloads the configuration (config/reloader.ts).
 * Exit 0 after a clean shutdown (SIGTERM/SIGINT), 2 for invalid configuration, 3 when recovery
 * finds a corrupt write-ahead log, 1 otherwise (including a WAL write or fsync failure).
 */
import { configureConcurrentMarking, mallocHugePages, usableCores } from '@longbow/flight';
import { ConfigError, loadConfig, type Config } from './config/config.ts';
import { createLogger } from './log/logger.ts';
import { LongbowServer } from './server.ts';
import { RecoveryError } from './persistence.ts';
import { configEnvironment, unknownVariables } from './config/env-file.ts';

const EXIT_CONFIG = 2;
const EXIT_FAILURE = 1;
const EXIT_DATA_LOSS = 3;

async function main(): Promise<void> {
  let config: Config;
  let unknown: string[];
  try {
    const env = configEnvironment(process.env, 'startup');
    config = loadConfig(env);
    unknown = unknownVariables(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`longbow: invalid configuration: ${error.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  for (const variable of unknown) logger.warn({ variable }, `Unknown setting ${variable} is ignored (see docs/configuration.md)`);
  const cores = usableCores();
  const concurrentMarking = configureConcurrentMarking(config.gcConcurrentMarking, cores);
  logger.info({ gc_concurrent_marking: concurrentMarking, setting: config.gcConcurrentMarking, cores },
    `V8 concurrent marking ${concurrentMarking ? 'on' : 'off'} (LONGBOW_GC_CONCURRENT_MARKING=${config.gcConcurrentMarking})`);
  const pages = mallocHugePages();
  logger.info({ malloc_huge_pages: pages.on, thp: pages.kernel, glibc_hugetlb: pages.tunable ?? null, glibc: pages.glibc ?? null },
    pages.on ? 'Large allocations on huge pages' : `Large allocations on 4 KiB pages: ${pages.reason}`);
  const server = new LongbowServer(config, logger);
  server.onFatal = () => process.exit(EXIT_FAILURE);

  // Signals are handled from the start: one that arrives during recovery stops the server as
  // soon as it is up, instead of killing the process half-way.
  let started = false;
  let stopRequested: NodeJS.Signals | undefined;
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (!started) {
      stopRequested ??= signal;
      return;
    }
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, `Received ${signal}, shutting down`);
    server.stop().then(() => process.exit(0), (error: unknown) => {
      logger.fatal({ err: error }, 'Shutdown failed');
      process.exit(EXIT_FAILURE);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // SIGHUP only queues a reload; one that arrives during recovery is applied once the server is up.
  let reloadRequested = false;
  process.on('SIGHUP', () => {
    if (started) server.reloader.request();
    else reloadRequested = true;
  });

  try {
    await server.start();
  } catch (error) {
    if (error instanceof RecoveryError) {
      logger.fatal({ err: error }, 'Recovery failed: refusing to start');
      process.stderr.write(`longbow: cannot start: ${error.message}\n`);
      process.exit(EXIT_DATA_LOSS);
    }
    throw error;
  }
  started = true;
  if (stopRequested) stop(stopRequested);
  else if (reloadRequested) server.reloader.request();
}

main().catch((error: unknown) => {
  process.stderr.write(`longbow: failed to start: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(EXIT_FAILURE);
});
