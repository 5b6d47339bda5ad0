/**
 * GLIBC_TUNABLES=glibc.malloc.hugetlb=1, the operator's switch for transparent huge pages
 * (docs/operations.md, "Memory pages"): the server reports the state it runs with at startup,
 * and with the switch a large put lands on huge pages (AnonHugePages), without it it does not.
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
const skip = process.platform !== 'linux' || glibcVersion() === undefined ? 'needs Linux with glibc' : false;

function anonHugePagesKb(pid: number): number {
  return Number(/AnonHugePages:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? NaN);
}

for (const hugetlb of ['1', '0']) {
  test(`with glibc.malloc.hugetlb=${hugetlb} the server says so at startup, and a 26 MB put lands on pages to match`, { skip }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'longbow-pages-'));
    const env = { LONGBOW_DATA_PATH: dir, LONGBOW_WAL_SYNC: 'off', GLIBC_TUNABLES: `glibc.malloc.check=0:glibc.malloc.hugetlb=${hugetlb}` };
    const expected = mallocHugePages({ env, kernel });
    try {
      const server = await startServerProcess(env);
      try {
        const line = server.logLines().find((entry) => 'malloc_huge_pages' in entry);
        assert.ok(line, server.output());
        assert.equal(line.malloc_huge_pages, expected.on);
        assert.equal(line.thp, kernel);
        assert.equal(line.glibc_hugetlb, hugetlb);
        assert.equal(line.msg, expected.on ? 'Large allocations on huge pages' : `Large allocations on 4 KiB pages: ${expected.reason}`);

        // One 26 MB message: read into one fresh allocation, kept by the dataset.
        const lb = await Longbow.connect(`grpc://${server.dataAddr}`);
        try {
          await lb.put('pages', makeBatch(50_000, 128, 0), { batchBytesMax: 64 << 20 });
        } finally {
          lb.close();
        }
        const kb = anonHugePagesKb(server.child.pid!);
        if (expected.on && kernel !== 'unavailable') assert.ok(kb >= 16 * 1024, `AnonHugePages ${kb} kB after a 26 MB put`);
        // With `always`, every large mapping gets huge pages whatever glibc asks.
        if (!expected.on && kernel === 'madvise') assert.ok(kb < 16 * 1024, `AnonHugePages ${kb} kB after a 26 MB put`);
      } finally {
        await server.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
