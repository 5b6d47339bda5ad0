/** Helpers of the WAL tests: temp directories, seeded bytes, a whole recovery. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '../src/wal/faulty-file-layer.ts';
import { WalRecovery, type WalRecoveryOptions } from '../src/wal/recovery.ts';
import type { WalRecord } from '../src/wal/format.ts';

/** A new directory under the system temp dir, removed after the test. */
export function tempDirectory(t: { after(fn: () => void): void }, prefix: string): string {
  const directory = mkdtempSync(join(tmpdir(), `longbow-${prefix}-`));
  t.after(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

/** Test data: bytes from a seeded source, so a failure is reproducible. */
export function seededBytes(length: number, seed: number): Uint8Array {
  const next = seededRandom(seed);
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index++) bytes[index] = Math.floor(next() * 256);
  return bytes;
}

/** Runs a recovery of `directory` to the end: the records it replays and its report. */
export async function recoverAll(directory: string, options: Omit<WalRecoveryOptions, 'directory'> = {}) {
  const recovery = new WalRecovery({ directory, ...options });
  const records: WalRecord[] = [];
  for await (const record of recovery.records()) records.push(record);
  return { records, report: recovery.report, recovery };
}
