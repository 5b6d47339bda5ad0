/** LONGBOW_GC_CONCURRENT_MARKING: what `auto` decides, that V8 knows the flag, and that the server applies it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../src/config/config.ts';
import { CONCURRENT_MARKING_OFF_CORES_MAX, concurrentMarkingEnabled } from '../src/gc-mode.ts';
import { startServerProcess } from './server-process.ts';

test('auto turns concurrent marking off on 2 cores or fewer and leaves it on above; on and off are kept', () => {
  assert.equal(CONCURRENT_MARKING_OFF_CORES_MAX, 2);
  assert.equal(concurrentMarkingEnabled('auto', 1), false);
  assert.equal(concurrentMarkingEnabled('auto', 2), false);
  assert.equal(concurrentMarkingEnabled('auto', 3), true);
  assert.equal(concurrentMarkingEnabled('auto', 64), true);
  assert.equal(concurrentMarkingEnabled('on', 1), true);
  assert.equal(concurrentMarkingEnabled('off', 64), false);
});

test('the setting defaults to auto and refuses other values, naming the variable', () => {
  assert.equal(loadConfig({}).gcConcurrentMarking, 'auto');
  assert.equal(loadConfig({ LONGBOW_GC_CONCURRENT_MARKING: 'off' }).gcConcurrentMarking, 'off');
  assert.throws(() => loadConfig({ LONGBOW_GC_CONCURRENT_MARKING: 'false' }),
    (error: unknown) => error instanceof ConfigError && error.variable === 'LONGBOW_GC_CONCURRENT_MARKING' && /auto.*on.*off/.test(error.message));
});

// v8.setFlagsFromString ignores a flag V8 does not know; node's command line refuses it. So a
// Node whose V8 renamed these flags fails here instead of silently keeping its default.
test("this Node's V8 knows both flags the server sets", () => {
  for (const flag of ['--concurrent-marking', '--no-concurrent-marking']) {
    const run = spawnSync(process.execPath, [flag, '-e', '0'], { encoding: 'utf8' });
    assert.equal(run.status, 0, `${flag}: ${run.stderr}`);
  }
  const unknown = spawnSync(process.execPath, ['--no-concurrent-markingz', '-e', '0'], { encoding: 'utf8' });
  assert.notEqual(unknown.status, 0, 'an unknown V8 flag is refused (otherwise the check above proves nothing)');
});

for (const [setting, expected] of [['on', true], ['off', false]] as const) {
  test(`the server applies LONGBOW_GC_CONCURRENT_MARKING=${setting} at startup and says so`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'longbow-gc-'));
    const server = await startServerProcess({ LONGBOW_DATA_PATH: dir, LONGBOW_GC_CONCURRENT_MARKING: setting });
    try {
      const line = server.logLines().find((entry) => 'gc_concurrent_marking' in entry);
      assert.ok(line, server.output());
      assert.equal(line.gc_concurrent_marking, expected);
      assert.equal(line.setting, setting);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
