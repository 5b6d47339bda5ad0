/**
 * GLIBC_TUNABLES=glibc.malloc.hugetlb=1, the operator's switch for transparent huge pages
 * (docs/operations.md, "Memory pages"): the server reports the state it runs with at startup,
 * and with the switch the memory of a large put is marked for huge pages (VmFlags `hg`, set by
 * glibc's madvise), without it it is not. Whether the kernel then finds free 2 MiB pages depends
 * on the machine, so AnonHugePages is only reported, not asserted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Longbow } from '@longbow/client';
import { glibcVersion, mallocHugePages, transparentHugePageMode } from '@longbow/flight';
import { startServerProcess } from './server-process.ts';
import { makeBatch } from './helpers.ts';

const kernel = transparentHugePageMode();
const glibc = glibcVersion();
// Only in `madvise` mode does glibc mark its blocks (with `always` the kernel needs no asking).
const marks = process.platform === 'linux' && kernel === 'madvise' && glibc !== undefined
  && mallocHugePages({ env: { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' }, kernel, glibc }).on;

/**
 * Writable mappings of 40-48 MiB (the put's message; V8 keeps mappings of its own, one of
 * 32 MiB marked for huge pages whatever glibc does): whether each is marked, and its AnonHugePages.
 */
function putMappings(pid: number): { hg: boolean; anonHugeKb: number }[] {
  const mappings: { hg: boolean; anonHugeKb: number }[] = [];
  for (const entry of readFileSync(`/proc/${pid}/smaps`, 'utf8').split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
    const size = Number(/^Size:\s+(\d+) kB/m.exec(entry)?.[1]);
    if (!(size >= 40 * 1024 && size <= 48 * 1024) || !/^[0-9a-f]+-[0-9a-f]+ rw/.test(entry)) continue;
    const flags = /^VmFlags:(.*)$/m.exec(entry)?.[1] ?? '';
    mappings.push({ hg: flags.split(/\s+/).includes('hg'), anonHugeKb: Number(/^AnonHugePages:\s+(\d+) kB/m.exec(entry)?.[1] ?? 0) });
  }
  return mappings;
}

for (const hugetlb of ['1', '0']) {
  test(`with glibc.malloc.hugetlb=${hugetlb} the server says so at startup, and a 43 MB put is marked to match`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'longbow-pages-'));
    const env = { LONGBOW_DATA_PATH: dir, LONGBOW_WAL_SYNC: 'off', GLIBC_TUNABLES: `glibc.malloc.check=0:glibc.malloc.hugetlb=${hugetlb}` };
    const expected = mallocHugePages({ env, kernel, glibc });
    try {
      const server = await startServerProcess(env);
      try {
        const line = server.logLines().find((entry) => 'malloc_huge_pages' in entry);
        assert.ok(line, server.output());
        assert.equal(line.malloc_huge_pages, expected.on);
        assert.equal(line.thp, kernel);
        assert.equal(line.glibc_hugetlb, hugetlb);
        assert.equal(line.glibc, glibc ?? null);
        assert.equal(line.msg, expected.on ? 'Large allocations on huge pages' : `Large allocations on 4 KiB pages: ${expected.reason}`);
        if (!marks) return; // the marks below need Linux, glibc >= 2.35 and `madvise`

        // One 43 MB message: read into one fresh allocation, kept by the dataset.
        const lb = await Longbow.connect(`grpc://${server.dataAddr}`);
        try {
          await lb.put('pages', makeBatch(80_000, 128, 0), { batchBytesMax: 64 << 20 });
        } finally {
          lb.close();
        }
        const mappings = putMappings(server.child.pid!);
        const seen = JSON.stringify(mappings);
        assert.equal(mappings.length, 1, `writable mappings of 40-48 MiB after the put: ${seen}`);
        assert.equal(mappings[0].hg, hugetlb === '1', `the put's mapping (VmFlags hg, AnonHugePages): ${seen}`);
      } finally {
        await server.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
