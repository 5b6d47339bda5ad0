/**
 * TTL eviction: with a TTL above zero, a dataset that was neither read nor written for that
 * long is dropped, durably (a drop record in the write-ahead log, exactly like drop_dataset),
 * logged and counted. Idleness is `Dataset.lastAccessMs`, which reads and writes refresh.
 */
import type { Logger } from '../log/logger.ts';
import { formatDuration } from '../config/units.ts';
import { TTL_CHECK_INTERVAL_MS_MAX, TTL_CHECK_INTERVAL_MS_MIN } from '../limits.ts';
import type { Store } from './store.ts';

export class TtlEvictor {
  private timer: NodeJS.Timeout | undefined;
  private ttlMs = 0;
  private sweeping = false;

  constructor(private readonly store: Store, private readonly logger: Logger,
    private readonly onEvicted: (dataset: string) => void = () => {}) {}

  /** Sets the TTL (0 turns eviction off) and restarts the periodic check. */
  setTtl(ttlMs: number): void {
    this.ttlMs = ttlMs;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (ttlMs <= 0) return;
    // Check a few times per TTL, so a dataset outlives its TTL by at most about a quarter.
    const everyMs = Math.min(TTL_CHECK_INTERVAL_MS_MAX, Math.max(TTL_CHECK_INTERVAL_MS_MIN, Math.floor(ttlMs / 4)));
    this.timer = setInterval(() => { void this.sweep(); }, everyMs);
    this.timer.unref();
  }

  /** Evicts every dataset idle for at least the TTL; returns their names. */
  async sweep(nowMs = Date.now()): Promise<string[]> {
    if (this.ttlMs <= 0 || this.sweeping) return [];
    this.sweeping = true;
    const evicted: string[] = [];
    try {
      for (const dataset of this.store.list()) {
        const idleMs = nowMs - dataset.lastAccessMs;
        if (idleMs < this.ttlMs) continue;
        // A write may have touched it while an earlier drop was being logged.
        // (the same object: one dropped and re-created meanwhile is a new dataset, in use).
        const current = this.store.list().find((candidate) => candidate.name === dataset.name);
        if (current !== dataset || Date.now() - dataset.lastAccessMs < this.ttlMs) continue;
        try {
          await this.store.drop(dataset.name);
        } catch (error) {
          this.logger.error({ err: error, dataset: dataset.name }, 'TTL eviction failed; the dataset is kept');
          continue;
        }
        evicted.push(dataset.name);
        this.onEvicted(dataset.name);
        this.logger.info({
          dataset: dataset.name, rows: dataset.rows, idle: formatDuration(Math.round(idleMs)), ttl: formatDuration(this.ttlMs), reason: 'ttl',
        }, 'Dataset evicted');
      }
    } finally {
      this.sweeping = false;
    }
    return evicted;
  }

  close(): void {
    this.setTtl(0);
  }
}
