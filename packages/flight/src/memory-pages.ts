/**
 * Whether this process's large allocations sit on transparent huge pages: what the server logs
 * at startup and the client bench records.
 *
 * Each Arrow message that arrives is read into a fresh buffer, and glibc serves each large
 * block with a fresh mmap that the kernel faults in page by page: ~13,000 faults for 52 MB on
 * 4 KiB pages. glibc asks the kernel for huge pages on its large blocks only when the process
 * was started with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, and the kernel grants them when its
 * mode (/sys/kernel/mm/transparent_hugepage/enabled) is `madvise`; with `always` every large
 * mapping gets them anyway, and `never` refuses them. Nothing sets the variable by default: it
 * halves the cost of memory that is soon reused (14 against 29 ms to allocate and fill 52 MB on
 * a 2-core VM), but in a VM whose host takes back free 2 MiB blocks it made growing datasets
 * three times slower. Figures: docs/performance.md, "Memory pages".
 */
import { readFileSync } from 'node:fs';

/** The kernel's transparent huge page mode; `unavailable` when it has none (or it cannot be read). */
export type TransparentHugePageMode = 'always' | 'madvise' | 'never' | 'unavailable';

export interface MallocHugePages {
  /**
   * Whether large allocations are asked onto huge pages (the kernel still falls back to 4 KiB
   * pages when it has no free 2 MiB page, or, with glibc.malloc.hugetlb=2, none reserved).
   */
  on: boolean;
  /** The kernel's transparent huge page mode. */
  kernel: TransparentHugePageMode;
  /** The value of glibc.malloc.hugetlb in GLIBC_TUNABLES (the last one given), if any. */
  tunable: string | undefined;
  /** The version of glibc this process runs on; undefined on another C library. */
  glibc: string | undefined;
  /** Why large allocations are on 4 KiB pages, when they are. */
  reason?: string;
}

export const TRANSPARENT_HUGE_PAGE_MODE_FILE = '/sys/kernel/mm/transparent_hugepage/enabled';

/** The mode the kernel shows in brackets, e.g. `always [madvise] never`. */
export function transparentHugePageMode(read: (path: string) => string = (path) => readFileSync(path, 'utf8')): TransparentHugePageMode {
  try {
    const selected = /\[(\w+)\]/.exec(read(TRANSPARENT_HUGE_PAGE_MODE_FILE))?.[1];
    return selected === 'always' || selected === 'madvise' || selected === 'never' ? selected : 'unavailable';
  } catch {
    return 'unavailable';
  }
}

/** glibc.malloc.hugetlb in a GLIBC_TUNABLES value (colon-separated name=value pairs; the last one counts). */
export function glibcHugetlbTunable(tunables: string | undefined): string | undefined {
  let value: string | undefined;
  for (const pair of (tunables ?? '').split(':')) {
    const at = pair.indexOf('=');
    if (at > 0 && pair.slice(0, at) === 'glibc.malloc.hugetlb') value = pair.slice(at + 1);
  }
  return value;
}

/** The glibc version Node runs on (from its diagnostic report), or undefined with another C library. */
export function glibcVersion(): string | undefined {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime;
}

export interface MallocHugePagesInputs {
  env?: NodeJS.ProcessEnv;
  kernel?: TransparentHugePageMode;
  glibc?: string | undefined;
}

/**
 * Whether large allocations of this process (or of one with the given inputs) are asked onto
 * huge pages, and why not. GLIBC_TUNABLES is read from process.env, which holds what glibc read
 * at startup unless the application has changed it since.
 */
export function mallocHugePages(inputs: MallocHugePagesInputs = {}): MallocHugePages {
  const kernel = inputs.kernel ?? transparentHugePageMode();
  const glibc = 'glibc' in inputs ? inputs.glibc : glibcVersion();
  const tunable = glibcHugetlbTunable((inputs.env ?? process.env).GLIBC_TUNABLES);
  const state = { kernel, tunable, glibc };
  if (kernel === 'always') return { on: true, ...state };
  // glibc.malloc.hugetlb=2 maps pre-reserved hugetlbfs pages, whatever the transparent mode.
  if (glibc !== undefined && tunable === '2') return { on: true, ...state };
  if (kernel === 'never') return { on: false, ...state, reason: `the kernel's transparent huge pages are off (${TRANSPARENT_HUGE_PAGE_MODE_FILE}: never)` };
  if (kernel === 'unavailable') return { on: false, ...state, reason: 'the kernel offers no transparent huge pages' };
  if (glibc === undefined) return { on: false, ...state, reason: 'the C library is not glibc' };
  if (tunable === '1') return { on: true, ...state };
  if (tunable === undefined) {
    return { on: false, ...state, reason: 'GLIBC_TUNABLES has no glibc.malloc.hugetlb=1 (off by default, see docs/operations.md)' };
  }
  return { on: false, ...state, reason: `GLIBC_TUNABLES sets glibc.malloc.hugetlb=${tunable}` };
}
