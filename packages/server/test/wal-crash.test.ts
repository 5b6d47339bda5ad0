/**
 * Real crash test: a child process appends to the WAL and prints each acknowledged sequence;
 * the parent SIGKILLs it at a random point and checks that every acknowledged record survived,
 * intact. Several cycles on one directory, so each child also recovers (and cuts the torn
 * tail) after the previous kill. The same file is the child when LONGBOW_WAL_CRASH_CHILD is set.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../src/wal/faulty-file-layer.ts';
import { RecordType } from '../src/wal/format.ts';
import { WalRecovery } from '../src/wal/recovery.ts';
import { WalWriter } from '../src/wal/writer.ts';

const CHILD_ENV = 'LONGBOW_WAL_CRASH_CHILD';

function payloadFor(seq: number): Uint8Array {
  const random = seededRandom(seq * 7919);
  return Uint8Array.from({ length: 16 + Math.floor(random() * 4000) }, () => Math.floor(random() * 256));
}

/** The child: recover, cut the torn tail, then append in concurrent waves until killed. */
async function runChild(directory: string): Promise<void> {
  const recovery = new WalRecovery({ directory });
  for await (const record of recovery.records()) assert.deepEqual(record.payload, payloadFor(record.seq));
  await recovery.truncateTail();
  const writer = await WalWriter.open({ directory, nextSeq: recovery.report.nextSeq, segmentBytesMax: 256 * 1024 });
  for (;;) {
    const wave = Array.from({ length: 1 + (writer.nextSeq % 32) }, () => {
      const seq = writer.nextSeq;
      return writer.append(RecordType.put, 'crash', payloadFor(seq)).then((result) => {
        process.stdout.write(`${result.seq}\n`); // synchronous for pipes on Linux
      });
    });
    await Promise.all(wave);
  }
}

/** Starts a child, kills it with SIGKILL after `acknowledgedTarget` acks; returns the acks seen. */
function runAndKill(directory: string, acknowledgedTarget: number): Promise<number[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    env: { ...process.env, [CHILD_ENV]: directory },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const acknowledged: number[] = [];
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    const lines = stdout.split('\n');
    stdout = lines.pop() ?? '';
    for (const line of lines) acknowledged.push(Number(line));
    if (acknowledged.length >= acknowledgedTarget) child.kill('SIGKILL');
  });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  return new Promise((resolve, reject) => {
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(acknowledged);
      else reject(new Error(`child exited with code ${code} before the kill: ${stderr}`));
    });
  });
}

if (process.env[CHILD_ENV]) {
  await runChild(process.env[CHILD_ENV]);
} else {
  test('SIGKILL at random points: every acknowledged record survives', async (t) => {
    const directory = mkdtempSync(join(tmpdir(), 'longbow-wal-crash-'));
    t.after(() => rmSync(directory, { recursive: true, force: true }));
    const random = seededRandom(2024);
    const acknowledged: number[] = [];
    const cycles = 4;
    for (let cycle = 0; cycle < cycles; cycle++) {
      acknowledged.push(...(await runAndKill(directory, 50 + Math.floor(random() * 400))));
      const recovery = new WalRecovery({ directory });
      const recovered = new Map<number, Uint8Array>();
      let expectedSeq = 1;
      for await (const record of recovery.records()) {
        assert.equal(record.seq, expectedSeq++, 'sequences are consecutive');
        recovered.set(record.seq, record.payload);
      }
      for (const seq of acknowledged) {
        assert.ok(recovered.has(seq), `acknowledged record ${seq} lost after kill ${cycle + 1}`);
        assert.deepEqual(recovered.get(seq), payloadFor(seq));
      }
      t.diagnostic(`kill ${cycle + 1}: ${acknowledged.length} acknowledged so far, ${recovered.size} recovered, torn tail: ${recovery.report.tornTail ? 'yes' : 'no'}`);
    }
  });
}
