/**
 * V8's concurrent marking, for processes that move large Arrow data: the server (set once at
 * startup from LONGBOW_GC_CONCURRENT_MARKING) and applications that ask for it (exported by
 * @longbow/client). The `longbow` CLI leaves V8's default: a 520 MB put or get through it took
 * the same time either way.
 *
 * Every ArrayBuffer a put or a get allocates counts as external memory, and V8 starts a full
 * mark-compact for every ~64 MB of it, however small the JavaScript heap. With concurrent
 * marking, V8's four helper threads mark the heap; each marking then ends quickly, so the next
 * one starts sooner. On a 2-core machine, putting and dropping 52 MB datasets in a loop cost
 * the server 58-70 ms of CPU per put with it (of which ~36 ms on the helpers) and 28-47 ms
 * without it (marking then runs on the event loop in steps of a few ms, ~7 ms per put), and the
 * helpers had taken those cores from the event loop and the kernel. Large puts ran 1.1x-1.4x
 * faster without it, and other calls waited less during a put. With more cores, the helpers
 * have cores of their own, so `auto` keeps V8's default there. Figures and method:
 * docs/performance.md, "Garbage collection".
 */
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';

/** `auto`: off on machines with CONCURRENT_MARKING_OFF_CORES_MAX cores or fewer, on otherwise. */
export type ConcurrentMarkingSetting = 'auto' | 'on' | 'off';
export const CONCURRENT_MARKING_SETTINGS: readonly ConcurrentMarkingSetting[] = ['auto', 'on', 'off'];

/** `auto` turns concurrent marking off at this many cores or fewer. */
export const CONCURRENT_MARKING_OFF_CORES_MAX = 2;

/** Whether concurrent marking should run, for a setting and a core count. */
export function concurrentMarkingEnabled(setting: ConcurrentMarkingSetting, cores: number = availableParallelism()): boolean {
  if (setting === 'auto') return cores > CONCURRENT_MARKING_OFF_CORES_MAX;
  return setting === 'on';
}

/**
 * Decides and applies the setting for this whole process (V8 flags are per process: every
 * worker thread too); returns whether concurrent marking is now on. Meant to be called once, at
 * startup: V8 reads the flag each time a marking starts, so the change takes effect from the
 * next collection.
 */
export function configureConcurrentMarking(setting: ConcurrentMarkingSetting, cores: number = availableParallelism()): boolean {
  if (!CONCURRENT_MARKING_SETTINGS.includes(setting)) {
    throw new RangeError(`concurrent marking setting must be auto, on or off, got ${JSON.stringify(setting)}`);
  }
  const enabled = concurrentMarkingEnabled(setting, cores);
  setFlagsFromString(enabled ? '--concurrent-marking' : '--no-concurrent-marking');
  return enabled;
}
