/** configureConcurrentMarking: what `auto` decides, bad settings refused, and that V8 knows the flags it sets. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CONCURRENT_MARKING_OFF_CORES_MAX, concurrentMarkingEnabled } from '../src/gc.ts';

test('auto turns concurrent marking off on 2 cores or fewer and leaves it on above; on and off are kept', () => {
  assert.equal(CONCURRENT_MARKING_OFF_CORES_MAX, 2);
  assert.equal(concurrentMarkingEnabled('auto', 1), false);
  assert.equal(concurrentMarkingEnabled('auto', 2), false);
  assert.equal(concurrentMarkingEnabled('auto', 3), true);
  assert.equal(concurrentMarkingEnabled('auto', 64), true);
  assert.equal(concurrentMarkingEnabled('on', 1), true);
  assert.equal(concurrentMarkingEnabled('off', 64), false);
});

test('configureConcurrentMarking returns its decision and refuses an unknown setting', () => {
  // In a child process: the flag is process-wide and this test should not change the runner's.
  const script = `
    import { configureConcurrentMarking } from ${JSON.stringify(new URL('../src/gc.ts', import.meta.url).href)};
    const out = [configureConcurrentMarking('auto', 2), configureConcurrentMarking('auto', 8), configureConcurrentMarking('off', 8), configureConcurrentMarking('on', 1)];
    try { configureConcurrentMarking('false'); out.push('accepted'); } catch (error) { out.push(error.constructor.name + ': ' + error.message); }
    console.log(JSON.stringify(out));`;
  const run = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), [false, true, false, true, 'RangeError: concurrent marking setting must be auto, on or off, got "false"']);
});

// v8.setFlagsFromString ignores a flag V8 does not know; node's command line refuses it. So a
// Node whose V8 renamed these flags fails here instead of silently keeping its default.
test("this Node's V8 knows both flags that are set", () => {
  for (const flag of ['--concurrent-marking', '--no-concurrent-marking']) {
    const run = spawnSync(process.execPath, [flag, '-e', '0'], { encoding: 'utf8' });
    assert.equal(run.status, 0, `${flag}: ${run.stderr}`);
  }
  const unknown = spawnSync(process.execPath, ['--no-concurrent-markingz', '-e', '0'], { encoding: 'utf8' });
  assert.notEqual(unknown.status, 0, 'an unknown V8 flag is refused (otherwise the check above proves nothing)');
});
