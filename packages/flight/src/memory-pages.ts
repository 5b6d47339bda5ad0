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
 * halves the cost of memory that is soon reused (~14 against ~28 ms to allocate and fill 52 MB
 * on a 2-core VM), but in a VM whose host takes back free 2 MiB blocks it made growing datasets
 * three times slower. Figures: docs/performance.md, "Memory pages".
 */
import { readFileSync } from 'node:fs';

/** The kernel's transparent huge page mode; `unavailable` when it has none (or it cannot be read). */
export type TransparentHugePageMode = 'always' | 'madvise' | 'never' | 'unavailable';

export interface MallocHugePages {
  /**
   * Whether large allocations are asked onto huge pages (the kernel still falls back to 4 KiB
   * pages when it has no free 2 MiB page at the time).
   */
  on: boolean;
  /** The kernel's transparent huge page mode. */
  kernel: TransparentHugePageMode;
  /** The value of glibc.malloc.hugetlb in GLIBC_TUNABLES (the last one given), as written, if any. */
  tunable: string | undefined;
  /** The version of glibc this process runs on; undefined on another C library. */
  glibc: string | undefined;
  /** Why large allocations are on 4 KiB pages, when they are. */
  reason?: string;
}

const readText = (path: string): string => readFileSync(path, 'utf8');

export const TRANSPARENT_HUGE_PAGE_MODE_FILE = '/sys/kernel/mm/transparent_hugepage/enabled';

/** The mode the kernel shows in brackets, e.g. `always [madvise] never`. */
export function transparentHugePageMode(read: (path: string) => string = readText): TransparentHugePageMode {
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

/** glibc reads glibc.malloc.hugetlb from this version on; older versions ignore it. */
export const GLIBC_HUGETLB_VERSION_MIN = '2.35';

/** Whether version `a` (dotted numbers) is at least `b`. */
function versionAtLeast(a: string, b: string): boolean {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const [p, q] = [x[i] ?? 0, y[i] ?? 0];
    if (p !== q) return p > q;
  }
  return true;
}

/** A tunable's number as glibc reads it (strtoul with base 0: 0x hex, leading 0 octal); NaN if not a number. */
export function tunableNumber(text: string): number {
  if (/^0x[0-9a-f]+$/i.test(text)) return parseInt(text.slice(2), 16);
  if (/^0[0-7]+$/.test(text)) return parseInt(text, 8);
  return /^\d+$/.test(text) ? Number(text) : Number.NaN;
}

let glibcVersionRead: { version: string | undefined } | undefined;

/**
 * The glibc version Node runs on, or undefined with another C library (or when Node's
 * diagnostic report, where it comes from, fails). Read once: the report also lists open
 * sockets, whose host names it would look up, so those are left out while it is made.
 */
export function glibcVersion(): string | undefined {
  if (glibcVersionRead) return glibcVersionRead.version;
  const report = process.report as (NodeJS.ProcessReport & { excludeNetwork?: boolean }) | undefined;
  let version: string | undefined;
  if (report) {
    const excluded = report.excludeNetwork;
    report.excludeNetwork = true;
    try {
      version = (report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
    } catch {
      version = undefined;
    } finally {
      report.excludeNetwork = excluded;
    }
  }
  glibcVersionRead = { version };
  return version;
}

/** HugePages_Total from /proc/meminfo: hugetlbfs pages reserved by the administrator (0 when unreadable). */
export function reservedHugePages(read: (path: string) => string = readText): number {
  try {
    return Number(/^HugePages_Total:\s+(\d+)/m.exec(read('/proc/meminfo'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export interface MallocHugePagesInputs {
  env?: NodeJS.ProcessEnv;
  kernel?: TransparentHugePageMode;
  glibc?: string | undefined;
  /** hugetlbfs pages reserved (HugePages_Total), for glibc.malloc.hugetlb values of 2 and above. */
  reserved?: number;
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
  const off = (reason: string): MallocHugePages => ({ on: false, ...state, reason });
  if (kernel === 'always') return { on: true, ...state };
  if (glibc === undefined) return off('the C library is not glibc (or could not be identified)');
  const value = tunable === undefined ? 0 : tunableNumber(tunable);
  if (value !== 0 && !versionAtLeast(glibc, GLIBC_HUGETLB_VERSION_MIN)) {
    return off(`glibc ${glibc} ignores glibc.malloc.hugetlb (read from ${GLIBC_HUGETLB_VERSION_MIN} on)`);
  }
  // 2 and above: pages from hugetlbfs (2 its default size, else a size in bytes), whatever the
  // transparent mode; glibc falls back to 4 KiB pages when none are reserved.
  if (value >= 2) {
    const reserved = inputs.reserved ?? reservedHugePages();
    return reserved > 0 ? { on: true, ...state } : off(`glibc.malloc.hugetlb=${tunable} asks for hugetlbfs pages, and none are reserved (HugePages_Total 0)`);
  }
  if (kernel === 'never') return off(`the kernel's transparent huge pages are off (${TRANSPARENT_HUGE_PAGE_MODE_FILE}: never)`);
  if (kernel === 'unavailable') return off('the kernel offers no transparent huge pages');
  if (value === 1) return { on: true, ...state };
  if (tunable === undefined) return off('GLIBC_TUNABLES has no glibc.malloc.hugetlb=1 (off by default, see docs/operations.md)');
  return off(`GLIBC_TUNABLES sets glibc.malloc.hugetlb=${tunable}`);
}
