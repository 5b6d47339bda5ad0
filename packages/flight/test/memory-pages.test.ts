/** Reading whether large allocations get huge pages: the kernel's mode, GLIBC_TUNABLES, the C library. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { glibcHugetlbTunable, glibcVersion, mallocHugePages, reservedHugePages, transparentHugePageMode, tunableNumber } from '../src/memory-pages.ts';

const tunables = (value: string | undefined): NodeJS.ProcessEnv => (value === undefined ? {} : { GLIBC_TUNABLES: value });

describe('memory pages', () => {
  test('the kernel mode is the bracketed word', () => {
    assert.equal(transparentHugePageMode(() => 'always [madvise] never\n'), 'madvise');
    assert.equal(transparentHugePageMode(() => '[always] madvise never\n'), 'always');
    assert.equal(transparentHugePageMode(() => 'always madvise [never]\n'), 'never');
    assert.equal(transparentHugePageMode(() => 'garbage'), 'unavailable');
    assert.equal(transparentHugePageMode(() => { throw new Error('ENOENT'); }), 'unavailable');
  });

  test('glibc.malloc.hugetlb is read from GLIBC_TUNABLES, the last one counting', () => {
    assert.equal(glibcHugetlbTunable(undefined), undefined);
    assert.equal(glibcHugetlbTunable(''), undefined);
    assert.equal(glibcHugetlbTunable('glibc.malloc.check=3'), undefined);
    assert.equal(glibcHugetlbTunable('glibc.malloc.hugetlb=1'), '1');
    assert.equal(glibcHugetlbTunable('glibc.malloc.check=3:glibc.malloc.hugetlb=1:glibc.malloc.hugetlb=0'), '0');
    assert.equal(glibcHugetlbTunable('xglibc.malloc.hugetlb=1'), undefined);
  });

  test('a tunable number is read as glibc reads it (decimal, 0x hex, leading-0 octal)', () => {
    assert.equal(tunableNumber('1'), 1);
    assert.equal(tunableNumber('01'), 1);
    assert.equal(tunableNumber('0x1'), 1);
    assert.equal(tunableNumber('0'), 0);
    assert.equal(tunableNumber('2097152'), 2097152);
    assert.ok(Number.isNaN(tunableNumber('yes')));
    assert.equal(reservedHugePages(() => 'MemTotal: 1 kB\nHugePages_Total:      16\nHugePages_Free: 16\n'), 16);
    assert.equal(reservedHugePages(() => { throw new Error('ENOENT'); }), 0);
  });

  test('on with madvise and the tunable, or with always; off otherwise, saying why', () => {
    // glibc null: another C library.
    const on = (kernel: 'always' | 'madvise' | 'never' | 'unavailable', tunable?: string, glibc: string | null = '2.36', reserved = 0) =>
      mallocHugePages({ kernel, env: tunables(tunable), glibc: glibc ?? undefined, reserved });
    assert.equal(on('madvise', 'glibc.malloc.hugetlb=1').on, true);
    assert.equal(on('madvise', 'glibc.malloc.hugetlb=0x1').on, true);
    assert.equal(on('madvise', 'glibc.malloc.check=3:glibc.malloc.hugetlb=1').reason, undefined);
    assert.equal(on('always').on, true);
    assert.equal(on('always', undefined, null).on, true);
    assert.match(on('madvise').reason!, /no glibc\.malloc\.hugetlb=1/);
    assert.match(on('madvise', 'glibc.malloc.hugetlb=0').reason!, /sets glibc\.malloc\.hugetlb=0/);
    assert.match(on('madvise', 'glibc.malloc.hugetlb=yes').reason!, /sets glibc\.malloc\.hugetlb=yes/);
    assert.match(on('never', 'glibc.malloc.hugetlb=1').reason!, /transparent huge pages are off/);
    assert.match(on('unavailable', 'glibc.malloc.hugetlb=1').reason!, /no transparent huge pages/);
    assert.match(on('madvise', 'glibc.malloc.hugetlb=1', null).reason!, /not glibc/);
    // The tunable came with glibc 2.35.
    assert.match(on('madvise', 'glibc.malloc.hugetlb=1', '2.31').reason!, /glibc 2\.31 ignores glibc\.malloc\.hugetlb/);
    assert.equal(on('madvise', 'glibc.malloc.hugetlb=1', '2.35').on, true);
    assert.equal(on('madvise', 'glibc.malloc.hugetlb=1', '2.40').on, true);
    // 2 and above: hugetlbfs pages, which exist only when reserved; the transparent mode does not matter.
    assert.match(on('never', 'glibc.malloc.hugetlb=2').reason!, /none are reserved/);
    assert.equal(on('never', 'glibc.malloc.hugetlb=2', '2.36', 8).on, true);
    assert.equal(on('madvise', 'glibc.malloc.hugetlb=2097152', '2.36', 8).on, true);
  });

  test("this process: the C library Node reports, and this process's own environment by default", () => {
    const report = process.report as NodeJS.ProcessReport & { excludeNetwork?: boolean };
    const excluded = report.excludeNetwork;
    const glibc = glibcVersion();
    if (process.platform === 'linux' && glibc !== undefined) assert.match(glibc, /^\d+\.\d+/);
    assert.equal(glibcVersion(), glibc, 'read once');
    assert.equal(report.excludeNetwork, excluded, 'the report setting is put back');
    const state = mallocHugePages();
    assert.equal(state.tunable, glibcHugetlbTunable(process.env.GLIBC_TUNABLES));
    assert.equal(state.glibc, glibc);
  });
});
