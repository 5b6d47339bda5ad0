/**
 * Graph building is CPU work done by worker threads, one per indexed dataset. Without a bound,
 * N datasets ingested at once would start N builds that fight the event loop (and each other)
 * for the same cores: measured on 2 cores, a dozen concurrent builds slowed DoPut of
 * unrelated data more than tenfold. So builds take turns: a dataset feeds its worker only while
 * it holds a slot, and a dataset holding one yields it after each feed message once another
 * is waiting (round robin, so a big build does not starve a small one).
 *
 * One slot by default: a single build already uses every insert thread the machine can spare
 * (all cores but one, see DatasetIndex), so a second concurrent build would only add contention.
 */
export class BuildSlots {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(slots: number) {
    this.free = slots;
  }

  /**
   * Calls `grant` when a slot is the caller's: at once (synchronously) if one is free,
   * otherwise in turn. Returns a function that withdraws a request not granted yet.
   */
  request(grant: () => void): () => void {
    if (this.free > 0) {
      this.free--;
      grant();
      return () => undefined;
    }
    this.waiting.push(grant);
    return () => {
      const position = this.waiting.indexOf(grant);
      if (position >= 0) this.waiting.splice(position, 1);
    };
  }

  /** Returns a granted slot: the longest waiter gets it (on a later microtask). */
  release(): void {
    const next = this.waiting.shift();
    if (!next) {
      this.free++;
      return;
    }
    queueMicrotask(next);
  }

  /** Whether someone is waiting for a slot (a holder should yield soon). */
  get contended(): boolean {
    return this.waiting.length > 0;
  }
}

/** The slots every DatasetIndex of the process shares. */
export const buildSlots = new BuildSlots(1);
