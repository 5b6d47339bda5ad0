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
 * without it (marking then runs on the event loop, ~300 steps of at most ~2 ms per
 * mark-compact, ~7 ms per put), and the helpers had taken those cores from the event loop and
 * the kernel. Without it, such puts ran 1.3x (TS client) to 1.7x (pyarrow) faster, single
 * 52 MB puts in the Flight bench 1.2x, an ingest with every default 1.1x-1.3x with shorter
 * waits for other calls, and batched searches over DoExchange ~5% slower (by the medians of
 * nine runs each, with more spread). With more cores, the helpers have cores of their own, so
 * `auto` leaves V8 as it is there. Figures and method: docs/performance.md, "Garbage collection".
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export const CONCURRENT_MARKING_SETTINGS = ['auto', 'on', 'off'] as const;
/** `auto`: off with CONCURRENT_MARKING_OFF_CORES_MAX cores or fewer; left as it is above. */
export type ConcurrentMarkingSetting = (typeof CONCURRENT_MARKING_SETTINGS)[number];

/** `auto` turns concurrent marking off at this many cores or fewer. */
export const CONCURRENT_MARKING_OFF_CORES_MAX = 2;

/** Node flags that start a process with concurrent marking off. */
const OFF_AT_START = ['--no-concurrent-marking', '--single-threaded-gc', '--predictable'];

/** Whether concurrent marking runs in this process; undefined until read from the command line. */
let running: boolean | undefined;

/**
 * The CPU quota of this process's cgroup, in cores (rounded up), when one is set: a container
 * limited to 2 CPUs on a 64-core host has 2 cores to give, while `availableParallelism()` (the
 * affinity mask, in Node 20) says 64. Reads cgroup v2's `cpu.max`, then v1's CFS quota, at the
 * cgroup root a container sees.
 */
export function cgroupCpuQuota(read: (path: string) => string = (path) => readFileSync(path, 'utf8')): number | undefined {
  const cores = (quota: number, period: number) => (quota > 0 && period > 0 ? Math.max(1, Math.ceil(quota / period)) : undefined);
  try {
    const [quota, period] = read('/sys/fs/cgroup/cpu.max').trim().split(/\s+/);
    return quota === 'max' ? undefined : cores(Number(quota), Number(period));
  } catch { /* not cgroup v2 */ }
  try {
    return cores(Number(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')), Number(read('/sys/fs/cgroup/cpu/cpu.cfs_period_us')));
  } catch {
    return undefined;
  }
}

/** The cores this process can use: its affinity mask, capped by its cgroup's CPU quota. */
export function usableCores(): number {
  return Math.min(availableParallelism(), cgroupCpuQuota() ?? Number.POSITIVE_INFINITY);
}

/**
 * Whether concurrent marking should run, for a setting and a core count; undefined when the
 * setting leaves it as it is (`auto` above CONCURRENT_MARKING_OFF_CORES_MAX cores).
 */
export function concurrentMarkingWanted(setting: ConcurrentMarkingSetting, cores: number): boolean | undefined {
  if (setting === 'auto') return cores > CONCURRENT_MARKING_OFF_CORES_MAX ? undefined : false;
  return setting === 'on';
}

/**
 * Applies the setting to this whole process (V8 flags are per process: every worker thread
 * too) and returns whether concurrent marking now runs. Call it once, first thing at startup.
 *
 * Only a change is applied, and it is applied right after a full collection: V8 reads the flag
 * during a collection too (a young-generation collection pauses the concurrent markers only
 * while it is set), so it must not change while a marking is under way. The collection
 * finishes any marking of this thread's heap first; other threads started before the call
 * (Node's module loader thread, say) are not covered, which is why it belongs at startup.
 */
export function configureConcurrentMarking(setting: ConcurrentMarkingSetting, cores: number = usableCores()): boolean {
  if (!(CONCURRENT_MARKING_SETTINGS as readonly string[]).includes(setting)) {
    throw new RangeError(`concurrent marking setting must be auto, on or off, got ${JSON.stringify(setting)}`);
  }
  running ??= !process.execArgv.some((flag) => OFF_AT_START.includes(flag));
  const wanted = concurrentMarkingWanted(setting, cores);
  if (wanted === undefined || wanted === running) return running;
  // Without a way to collect first, the flag is left alone rather than changed unsafely.
  if (!collectGarbageNow()) return running;
  setFlagsFromString(wanted ? '--concurrent-marking' : '--no-concurrent-marking');
  running = wanted;
  return running;
}

/**
 * A full, synchronous garbage collection, without the process having been started with
 * --expose-gc; false if this Node offers no way to run one.
 */
function collectGarbageNow(): boolean {
  setFlagsFromString('--expose-gc');
  try {
    const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
    if (typeof gc !== 'function') return false;
    gc();
    return true;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}
