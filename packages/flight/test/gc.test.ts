/**
 * configureConcurrentMarking: what each setting decides, that the flag really reaches V8, that a
 * flag Node was started with is kept, and the cgroup quota that caps the core count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { CONCURRENT_MARKING_OFF_CORES_MAX, cgroupCpuQuota, concurrentMarkingWanted } from '../src/gc.ts';

const GC_MODULE = JSON.stringify(new URL('../src/gc.ts', import.meta.url).href);
const TSX = import.meta.resolve('tsx');

/** Runs `script` (an ES module) in a child Node with `flags`; returns its stdout and stderr. */
function runChild(script: string, flags: string[] = []): { stdout: string; stderr: string } {
  // In a child process: the flag is process-wide and these tests must not change the runner's.
  const run = spawnSync(process.execPath, [...flags, '--import', TSX, '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return { stdout: run.stdout, stderr: run.stderr };
}

test('auto turns concurrent marking off on 2 cores or fewer and leaves it alone above; on and off are kept', () => {
  assert.equal(CONCURRENT_MARKING_OFF_CORES_MAX, 2);
  assert.equal(concurrentMarkingWanted('auto', 1), false);
  assert.equal(concurrentMarkingWanted('auto', 2), false);
  assert.equal(concurrentMarkingWanted('auto', 3), undefined);
  assert.equal(concurrentMarkingWanted('auto', 64), undefined);
  assert.equal(concurrentMarkingWanted('on', 1), true);
  assert.equal(concurrentMarkingWanted('off', 64), false);
});

test('the returned state follows the settings, keeps a flag Node was started with, and an unknown setting is refused', () => {
  const script = `
    import { configureConcurrentMarking } from ${GC_MODULE};
    const out = [configureConcurrentMarking('auto', 8), configureConcurrentMarking('auto', 2), configureConcurrentMarking('auto', 8),
      configureConcurrentMarking('on', 1), configureConcurrentMarking('auto', 8)];
    try { configureConcurrentMarking('false'); out.push('accepted'); } catch (error) { out.push(error.constructor.name + ': ' + error.message); }
    console.log(JSON.stringify(out));`;
  const refusal = 'RangeError: concurrent marking setting must be auto, on or off, got "false"';
  assert.deepEqual(JSON.parse(runChild(script).stdout), [true, false, false, true, true, refusal]);
  // Started with the flag off: auto on many cores leaves it off (the operator's choice stands).
  assert.deepEqual(JSON.parse(runChild(script, ['--no-concurrent-marking']).stdout), [false, false, false, true, true, refusal]);
});

// V8 prints a line per marking task it starts (--trace-concurrent-marking) and one per
// collection (--trace-gc), both on stdout. With concurrent marking off, full collections still
// run, and a marking task shows up only to help within a collection's final pause (task 1, at
// most once per collection). With it on, tasks run beside the main thread all through each
// marking: on a 2-core machine 20-60 of them, numbered up to 4, for 3-4 collections, under load
// too (with more cores, a final pause may start more helpers, so the exact check is for 2 cores
// or fewer). This checks that the flag reaches V8, not only our bookkeeping.
test('the setting reaches V8: marking tasks run beside the main thread only while it is on', () => {
  const script = (setting: string) => `
    import { configureConcurrentMarking } from ${GC_MODULE};
    configureConcurrentMarking(${JSON.stringify(setting)}, 8);
    console.log('APPLIED');
    const buffers = [];
    const kept = [];
    for (let round = 0; round < 60; round++) {
      buffers.push(new ArrayBuffer(4 << 20));
      for (let i = 0; i < 5000; i++) kept.push({ round, i, next: kept[kept.length - 1] });
      const garbage = [];
      for (let i = 0; i < 20000; i++) garbage.push({ round, i });
      await new Promise((resolve) => setTimeout(resolve, 2));
    }`;
  const count = (stdout: string, pattern: RegExp) =>
    stdout.slice(stdout.indexOf('APPLIED')).split('\n').filter((line) => pattern.test(line)).length;
  const anyTask = /Starting major concurrent marking task \d+$/;
  const helperTask = /Starting major concurrent marking task ([2-9]|\d\d+)$/;
  const fullCollection = /Mark-Compact/;
  const off = runChild(script('off'), ['--trace-gc', '--trace-concurrent-marking']).stdout;
  const on = runChild(script('on'), ['--trace-gc', '--trace-concurrent-marking', '--no-concurrent-marking']).stdout;
  assert.ok(count(off, fullCollection) > 0, `no full collection ran, so nothing was checked:\n${off}`);
  // Helpers beside the main thread: a task numbered 2 or more, or more tasks than collections.
  const helped = count(on, helperTask) > 0 || count(on, anyTask) > 2 * count(on, fullCollection);
  assert.ok(helped, `no concurrent marking task ran with concurrent marking on:\n${on}`);
  assert.ok(count(on, anyTask) > count(off, anyTask), `as many marking tasks with concurrent marking off as on:\n${off}`);
  if (availableParallelism() <= 2) {
    assert.equal(count(off, helperTask), 0, `marking tasks beyond the first ran with concurrent marking off:\n${off}`);
    assert.ok(count(off, anyTask) <= count(off, fullCollection), `marking tasks ran outside final pauses with concurrent marking off:\n${off}`);
  }
});

test('the cgroup CPU quota, v2 then v1, in whole cores rounded up; none when unlimited or unreadable', () => {
  const files = (entries: Record<string, string>) => (path: string) => {
    if (!(path in entries)) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return entries[path];
  };
  assert.equal(cgroupCpuQuota(files({ '/sys/fs/cgroup/cpu.max': '200000 100000\n' })), 2);
  assert.equal(cgroupCpuQuota(files({ '/sys/fs/cgroup/cpu.max': '150000 100000\n' })), 2);
  assert.equal(cgroupCpuQuota(files({ '/sys/fs/cgroup/cpu.max': '50000 100000\n' })), 1);
  assert.equal(cgroupCpuQuota(files({ '/sys/fs/cgroup/cpu.max': 'max 100000\n' })), undefined);
  assert.equal(cgroupCpuQuota(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '400000\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' })), 4);
  assert.equal(cgroupCpuQuota(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' })), undefined);
  assert.equal(cgroupCpuQuota(files({})), undefined);
});
