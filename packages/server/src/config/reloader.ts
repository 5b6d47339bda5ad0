/**
 * Hot reload (SIGHUP): validate -> freeze -> swap. The signal handler only calls `request()`,
 * which queues one reload for the next turn of the event loop; a reload never runs inside the
 * handler or in the middle of another reload. An invalid configuration keeps the one in force
 * and logs an ERROR naming the bad key; settings that cannot change while running are logged as
 * requiring a restart and left as they are.
 */
import type { Logger } from '../log/logger.ts';
import { ConfigError, SETTINGS, loadConfig, type Config } from './config.ts';
import { configEnvironment, type Environment } from './env-file.ts';
import { formatDuration } from './units.ts';

/** Settings applied while running; every other setting needs a restart. */
export const RELOADABLE_SETTINGS = ['maxMemoryBytes', 'snapshotIntervalMs', 'logLevel', 'ttlMs'] as const;
export type ReloadableSetting = (typeof RELOADABLE_SETTINGS)[number];

export type ReloadOutcome = 'ok' | 'error';

export interface ReloadTarget {
  /**
   * Applies the reloadable settings of `next` (called only with a valid configuration); the
   * log level is applied by the reloader itself, after its last line.
   */
  apply(next: Config, changed: ReloadableSetting[]): void;
  /** Counts a reload (metrics). */
  counted?(outcome: ReloadOutcome): void;
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b;
}

export class ConfigReloader {
  private queued = false;
  private config: Config;

  constructor(initial: Config, private readonly target: ReloadTarget, private readonly logger: Logger,
    private readonly readEnvironment: () => Environment = () => configEnvironment(process.env, 'reload')) {
    this.config = initial;
  }

  /** The configuration in force. */
  get current(): Config { return this.config; }

  /** Queues a reload (safe to call from a signal handler; repeated requests coalesce). */
  request(): void {
    if (this.queued) return;
    this.queued = true;
    setImmediate(() => {
      this.queued = false;
      this.reload();
    });
  }

  /** Reads, validates and applies the configuration now; returns whether it was applied. */
  reload(): ReloadOutcome {
    this.logger.info('Received SIGHUP, reloading configuration');
    let next: Config;
    try {
      next = loadConfig(this.readEnvironment());
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.logger.error({ key: error.variable, err_message: error.message }, `Configuration reload failed, keeping the current configuration: ${error.message}`);
      this.target.counted?.('error');
      return 'error';
    }
    const changed: ReloadableSetting[] = [];
    for (const key of Object.keys(SETTINGS) as (keyof Config)[]) {
      if (sameValue(this.config[key], next[key])) continue;
      if ((RELOADABLE_SETTINGS as readonly string[]).includes(key)) {
        changed.push(key as ReloadableSetting);
      } else {
        this.logger.warn({ key: SETTINGS[key].variable }, `${SETTINGS[key].variable} changed: requires restart (the running value is kept)`);
      }
    }
    // Freeze: only the reloadable settings move; the rest stays as the process started.
    const frozen: Config = { ...this.config };
    for (const key of RELOADABLE_SETTINGS) (frozen as unknown as Record<string, unknown>)[key] = next[key];
    this.target.apply(frozen, changed);
    this.config = frozen;
    this.target.counted?.('ok');
    // The level changes after this line, so the confirmation is seen even when it is raised.
    this.logger.info({
      max_memory: frozen.maxMemoryBytes,
      snapshot_interval: formatDuration(frozen.snapshotIntervalMs),
      log_level: frozen.logLevel,
      ttl: formatDuration(frozen.ttlMs),
      changed: changed.map((key) => SETTINGS[key].variable),
    }, 'Configuration reloaded');
    this.logger.level = frozen.logLevel;
    return 'ok';
  }
}
