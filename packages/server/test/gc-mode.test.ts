/** LONGBOW_GC_CONCURRENT_MARKING: parsed like every setting, and applied by the server at startup. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { usableCores } from '@longbow/flight';
import { ConfigError, loadConfig } from '../src/config/config.ts';
import { startServerProcess } from './server-process.ts';

test('the setting defaults to auto and refuses other values, naming the variable', () => {
  assert.equal(loadConfig({}).gcConcurrentMarking, 'auto');
  assert.equal(loadConfig({ LONGBOW_GC_CONCURRENT_MARKING: 'off' }).gcConcurrentMarking, 'off');
  assert.throws(() => loadConfig({ LONGBOW_GC_CONCURRENT_MARKING: 'false' }),
    (error: unknown) => error instanceof ConfigError && error.variable === 'LONGBOW_GC_CONCURRENT_MARKING' && /auto.*on.*off/.test(error.message));
});

// auto: off with 2 cores or fewer; above, left as Node started (on: the test starts it plainly).
for (const [setting, expected] of [['on', true], ['off', false], ['auto', usableCores() > 2]] as const) {
  test(`the server applies LONGBOW_GC_CONCURRENT_MARKING=${setting} at startup and says so`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'longbow-gc-'));
    try {
      const server = await startServerProcess({ LONGBOW_DATA_PATH: dir, LONGBOW_GC_CONCURRENT_MARKING: setting });
      try {
        const line = server.logLines().find((entry) => 'gc_concurrent_marking' in entry);
        assert.ok(line, server.output());
        assert.equal(line.gc_concurrent_marking, expected);
        assert.equal(line.setting, setting);
        assert.equal(line.cores, usableCores());
      } finally {
        await server.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
