/**
 * The examples in examples/ run against a real server, so they never rot: the Node example
 * (embeddings from a JSON file, in and back) and the Python one (pyarrow.flight). The Python
 * example needs an interpreter with pyarrow: $LONGBOW_PYTHON, else .cache/venv (made by
 * `npm test`, or `bash scripts/python-venv.sh`), else python3; without one it is skipped, saying
 * why, except under CI, where it fails.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { ROOT, runNodeExample, startClientFixture, type ClientFixture } from './helpers.ts';

const run = promisify(execFile);
let fixture: ClientFixture;

before(async () => {
  fixture = await startClientFixture();
});
after(async () => fixture.stop());

async function pythonWithPyarrow(): Promise<string | undefined> {
  const candidates = [process.env.LONGBOW_PYTHON, `${ROOT}.cache/venv/bin/python`, 'python3']
    .filter((candidate): candidate is string => candidate !== undefined && candidate !== '');
  for (const candidate of candidates) {
    if (candidate.includes('/') && !existsSync(candidate)) continue;
    try {
      await run(candidate, ['-c', 'import pyarrow.flight, numpy'], { timeout: 30_000 });
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

test('examples/embeddings.ts: JSON file into Longbow and back', async () => {
  const stdout = await runNodeExample('embeddings.ts', fixture.url);
  assert.deepEqual(stdout.split('\n'), [
    'stored 24 articles (dataset has 24 rows)',
    'vector column: embedding, 8 dimensions, metric cosine',
    '  #1 Mapping the far side of the Moon',
    '  #2 How rockets reach orbit',
    '  #3 Life cycle of a star',
    'read back 24 rows; first embedding starts -0.3057, -0.6389, 0.2028',
    '',
  ]);
});

test('examples/python/quickstart.py: pyarrow.flight put, get, list, actions', async (t) => {
  const python = await pythonWithPyarrow();
  if (python === undefined) {
    assert.ok(!process.env.CI, 'no Python with pyarrow and numpy under CI (npm test makes .cache/venv first)');
    t.skip('no Python with pyarrow and numpy (set LONGBOW_PYTHON or run bash scripts/python-venv.sh once)');
    return;
  }
  const { stdout } = await run(python, ['examples/python/quickstart.py', fixture.url], { cwd: ROOT, timeout: 60_000 });
  assert.deepEqual(stdout.split('\n'), [
    'stored 1000 rows in 4 batches; dataset has 1000 rows',
    'odd ids below 10: [1, 3, 5, 7, 9]',
    'read back 1000 rows; vectors identical: True',
    'listed py_docs: 1000 rows, schema metric euclidean',
    stdout.split('\n')[4],
    '',
  ]);
  assert.match(stdout.split('\n')[4], /^server holds \d+ dataset\(s\), \d+ bytes$/);
});
