/**
 * The `longbow` shell launcher (bin/longbow, also behind `npm start`): the GLIBC_TUNABLES it
 * hands to Node, the arguments, and the process it leaves (exec: the same PID, so signals and
 * SIGKILL reach the server itself). A stand-in `node` on PATH reports what it was given.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LAUNCHER = fileURLToPath(new URL('../bin/longbow', import.meta.url));
const SCRIPT = realpathSync(fileURLToPath(new URL('../bin/longbow.js', import.meta.url)));
const directory = mkdtempSync(join(tmpdir(), 'longbow-launcher-'));
after(() => rmSync(directory, { recursive: true, force: true }));

// The stand-in prints its PID, GLIBC_TUNABLES (or <unset>) and each argument on its own line.
writeFileSync(join(directory, 'node'), '#!/bin/sh\necho "$$"\necho "${GLIBC_TUNABLES-<unset>}"\nfor a in "$@"; do echo "$a"; done\n');
chmodSync(join(directory, 'node'), 0o755);

interface Launched { pid: number; reportedPid: number; tunables: string; args: string[] }

function launch(command: string, args: string[], tunables?: string): Promise<Launched> {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${directory}${delimiter}${process.env.PATH ?? ''}` };
  delete env.GLIBC_TUNABLES;
  if (tunables !== undefined) env.GLIBC_TUNABLES = tunables;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`launcher exited with ${code}`));
      const [reportedPid, reportedTunables, ...rest] = out.replace(/\n$/, '').split('\n');
      resolve({ pid: child.pid!, reportedPid: Number(reportedPid), tunables: reportedTunables, args: rest });
    });
  });
}

describe('bin/longbow', () => {
  test('asks glibc for huge pages, runs bin/longbow.js with the arguments intact, in the same process', async () => {
    const launched = await launch(LAUNCHER, ['put', 'my docs', '--metric', '', '*']);
    assert.equal(launched.tunables, 'glibc.malloc.hugetlb=1');
    assert.deepEqual(launched.args, [SCRIPT, 'put', 'my docs', '--metric', '', '*']);
    assert.equal(launched.reportedPid, launched.pid, 'the launcher execs Node: the PID a caller signals is the server');
  });

  test("keeps the caller's other tunables and the caller's own glibc.malloc.hugetlb", async () => {
    assert.equal((await launch(LAUNCHER, [], 'glibc.malloc.check=3')).tunables, 'glibc.malloc.check=3:glibc.malloc.hugetlb=1');
    assert.equal((await launch(LAUNCHER, [], '')).tunables, 'glibc.malloc.hugetlb=1');
    assert.equal((await launch(LAUNCHER, [], 'glibc.malloc.hugetlb=0')).tunables, 'glibc.malloc.hugetlb=0');
    assert.equal((await launch(LAUNCHER, [], 'glibc.mem.tagging=1:glibc.malloc.hugetlb=2')).tunables, 'glibc.mem.tagging=1:glibc.malloc.hugetlb=2');
  });

  test('finds bin/longbow.js through a symbolic link (as npm installs the command)', async () => {
    const link = join(directory, 'longbow');
    symlinkSync(LAUNCHER, link);
    const launched = await launch(link, ['ls']);
    assert.deepEqual(launched.args, [SCRIPT, 'ls']);
  });

  test('npm start runs the launcher', () => {
    const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(manifest.scripts.start, 'sh packages/server/bin/longbow serve');
    const server = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { bin: Record<string, string> };
    assert.equal(server.bin.longbow, './bin/longbow');
  });
});
