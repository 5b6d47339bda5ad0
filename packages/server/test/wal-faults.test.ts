/**
 * WAL under injected faults (seeded, replayable): failed fsyncs and writes fail the writer,
 * torn writes and lost unsynced bytes leave a readable prefix holding every acknowledged
 * record, short writes are completed, bit flips on read never yield a wrong record.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTick } from 'node:timers/promises';
import { FaultyFileLayer, SimulatedCrashError, seededRandom, type FaultOptions } from '../src/wal/faulty-file-layer.ts';
import { NodeFileLayer, type FileLayer } from '../src/wal/file-layer.ts';
import { RecordType, type WalRecord } from '../src/wal/format.ts';
import { WalRecovery } from '../src/wal/recovery.ts';
import { WalCorruptionError, WalWriterFailedError } from '../src/wal/wal-errors.ts';
import { WalWriter } from '../src/wal/writer.ts';
import { tempDirectory } from './wal-test-helpers.ts';

function faulty(options: Partial<FaultOptions> = {}): FaultyFileLayer {
  return new FaultyFileLayer(new NodeFileLayer(), { seed: 1, ...options });
}

/** The payload of `seq`: its size and bytes follow from the sequence, so any record can be checked. */
function payloadFor(seq: number): Uint8Array {
  const random = seededRandom(seq);
  return Uint8Array.from({ length: 1 + Math.floor(random() * 2000) }, () => Math.floor(random() * 256));
}

async function recoverAll(directory: string, files: FileLayer = new NodeFileLayer()) {
  const recovery = new WalRecovery({ directory, files });
  const records: WalRecord[] = [];
  for await (const record of recovery.records()) records.push(record);
  return { recovery, records, report: recovery.report };
}

function assertIntact(records: readonly WalRecord[], message: string): void {
  records.forEach((record, index) => {
    assert.equal(record.seq, index + 1, message);
    assert.deepEqual(record.payload, payloadFor(record.seq), `${message}: payload of ${record.seq}`);
  });
}

test('a failed fsync rejects every append waiting on it and fails the writer', async (t) => {
  const directory = tempDirectory(t, 'wal-faults');
  const files = faulty();
  const writer = await WalWriter.open({ directory, nextSeq: 1, files });
  for (let seq = 1; seq <= 5; seq++) await writer.append(RecordType.put, 'docs', payloadFor(seq));
  files.failNextFsync();
  const waiting = Array.from({ length: 50 }, (_, index) => writer.append(RecordType.put, 'docs', payloadFor(6 + index)));
  const outcomes = await Promise.allSettled(waiting);
  assert.ok(outcomes.every((outcome) => outcome.status === 'rejected' && outcome.reason instanceof WalWriterFailedError));
  assert.match(String(writer.failed?.message), /EIO/);
  await assert.rejects(writer.append(RecordType.put, 'docs', payloadFor(99)), WalWriterFailedError);
  await assert.rejects(writer.rotate(), WalWriterFailedError);
  await assert.rejects(writer.close(), WalWriterFailedError);
  const { records } = await recoverAll(directory);
  assertIntact(records, 'after fsync failure'); // the 5 acknowledged, maybe the unacknowledged too
  assert.ok(records.length >= 5);
});

test('a failed write rejects the batch and the appends queued behind it', async (t) => {
  const directory = tempDirectory(t, 'wal-faults');
  const files = faulty();
  const writer = await WalWriter.open({ directory, nextSeq: 1, files });
  await writer.append(RecordType.put, 'docs', payloadFor(1));
  files.failNextWrite();
  const first = writer.append(RecordType.put, 'docs', payloadFor(2)).catch((error: unknown) => error);
  await nextTick();
  const queued = writer.append(RecordType.put, 'docs', payloadFor(3)).catch((error: unknown) => error);
  assert.ok((await first) instanceof WalWriterFailedError);
  assert.ok((await queued) instanceof WalWriterFailedError);
  await assert.rejects(writer.close(), WalWriterFailedError);
  assert.deepEqual((await recoverAll(directory)).records.map((record) => record.seq), [1]);
});

test('short writes are completed: every record intact', async (t) => {
  const directory = tempDirectory(t, 'wal-faults');
  const files = faulty({ seed: 7, shortWriteProbability: 0.7 });
  const writer = await WalWriter.open({ directory, nextSeq: 1, files, segmentBytesMax: 20_000 });
  await Promise.all(Array.from({ length: 100 }, (_, index) => writer.append(RecordType.put, 'docs', payloadFor(index + 1))));
  for (let seq = 101; seq <= 150; seq++) await writer.append(RecordType.put, 'docs', payloadFor(seq));
  await writer.close();
  assert.ok(files.events.filter((event) => event.startsWith('short write')).length > 10, files.events.join('\n'));
  const { records, report } = await recoverAll(directory);
  assert.equal(report.tornTail, null);
  assert.equal(records.length, 150);
  assertIntact(records, 'short writes');
});

/**
 * One seeded run: concurrent appends until a fault (a torn write, or a crash that loses
 * unsynced bytes), then recovery. Every acknowledged record must be there, intact, in a
 * consecutive prefix; the torn tail is cut, and writing resumes after it.
 */
interface CrashOutcome { acknowledged: number; recovered: number; tornTail: boolean }

async function crashAndRecover(directory: string, seed: number, mode: 'torn write' | 'power loss'): Promise<CrashOutcome> {
  const files = faulty({ seed });
  const random = seededRandom(seed ^ 0x5eed);
  const writer = await WalWriter.open({ directory, nextSeq: 1, files, segmentBytesMax: 8_000 + Math.floor(random() * 8_000) });
  if (mode === 'torn write') files.options.tornWriteProbability = 0.05;
  const acknowledged: number[] = [];
  const crashAfterAppends = 20 + Math.floor(random() * 200);
  for (let index = 0; index < crashAfterAppends && !files.crashed; index++) {
    writer.append(RecordType.put, 'docs', payloadFor(index + 1)).then(({ seq }) => acknowledged.push(seq), () => undefined);
    if (random() < 0.3) await nextTick();
  }
  let acknowledgedAtCrash = acknowledged;
  if (mode === 'power loss') {
    acknowledgedAtCrash = [...acknowledged]; // acks after the crash reach no client
    await files.crash({ loseUnsyncedBytes: true });
  } else while (!files.crashed && !writer.failed) await writer.append(RecordType.put, 'docs', payloadFor(writer.nextSeq)).catch(() => undefined);
  await writer.close().catch(() => undefined);
  const context = `seed ${seed} (${mode}); faults: ${files.events.join('; ')}`;
  const { recovery, records, report } = await recoverAll(directory);
  assertIntact(records, context);
  const recovered = new Set(records.map((record) => record.seq));
  for (const seq of acknowledgedAtCrash) assert.ok(recovered.has(seq), `acknowledged ${seq} lost; ${context}`);
  await recovery.truncateTail();
  const resumed = await WalWriter.open({ directory, nextSeq: report.nextSeq });
  await resumed.append(RecordType.put, 'docs', payloadFor(report.nextSeq));
  await resumed.close();
  const after = await recoverAll(directory);
  assert.equal(after.report.tornTail, null, context);
  assertIntact(after.records, `after resuming; ${context}`);
  return { acknowledged: acknowledgedAtCrash.length, recovered: records.length, tornTail: report.tornTail !== null };
}

async function crashRuns(mode: 'torn write' | 'power loss', seeds: number): Promise<string> {
  const totals = { acknowledged: 0, recovered: 0, tornTails: 0 };
  for (let seed = 1; seed <= seeds; seed++) {
    const directory = mkdtempSync(join(tmpdir(), 'longbow-wal-crash-'));
    try {
      const outcome = await crashAndRecover(directory, seed, mode);
      totals.acknowledged += outcome.acknowledged;
      totals.recovered += outcome.recovered;
      totals.tornTails += outcome.tornTail ? 1 : 0;
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  }
  assert.ok(totals.tornTails > 0, 'no run ended with a torn tail: the faults did not bite');
  return `${seeds} seeds: ${totals.acknowledged} acknowledged, ${totals.recovered} recovered, ${totals.tornTails} torn tails cut`;
}

test('torn writes (seeded crashes mid-write) keep every acknowledged record', async (t) => {
  t.diagnostic(await crashRuns('torn write', 30));
});

test('power loss (unsynced bytes cut at random) keeps every acknowledged record', async (t) => {
  t.diagnostic(await crashRuns('power loss', 30));
});

test('a torn write leaves a readable prefix and a reported tail', async (t) => {
  const directory = tempDirectory(t, 'wal-faults');
  const files = faulty({ seed: 3 });
  const writer = await WalWriter.open({ directory, nextSeq: 1, files });
  for (let seq = 1; seq <= 10; seq++) await writer.append(RecordType.put, 'docs', payloadFor(seq));
  files.tearNextWrite();
  const torn = await Promise.allSettled(Array.from({ length: 20 }, (_, index) => writer.append(RecordType.put, 'docs', payloadFor(11 + index))));
  assert.ok(torn.every((outcome) => outcome.status === 'rejected' && outcome.reason.cause instanceof SimulatedCrashError));
  const { records, report } = await recoverAll(directory);
  assert.ok(records.length >= 10 && records.length < 30, files.events.join('\n'));
  assertIntact(records, files.events.join('; '));
  assert.ok(report.tornTail, 'a write cut inside a record leaves a torn tail');
  await writer.close().catch(() => undefined);
});

test('the same seed injects the same faults', async (t) => {
  const runs: string[][] = [];
  for (let run = 0; run < 2; run++) {
    const directory = mkdtempSync(join(tmpdir(), 'longbow-wal-replay-'));
    try {
      const files = faulty({ seed: 42, shortWriteProbability: 0.5, tornWriteProbability: 0.02 });
      const writer = await WalWriter.open({ directory, nextSeq: 1, files });
      for (let seq = 1; seq <= 200 && !writer.failed; seq++) await writer.append(RecordType.put, 'docs', payloadFor(seq)).catch(() => undefined);
      await writer.close().catch(() => undefined);
      runs.push(files.events.map((event) => event.replace(directory, '<dir>')));
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  }
  assert.ok(runs[0].length > 0);
  assert.deepEqual(runs[1], runs[0]);
  t.diagnostic(`${runs[0].length} faults replayed`);
});

test('bit flips on read never yield a wrong record', async (t) => {
  const directory = tempDirectory(t, 'wal-faults');
  const writer = await WalWriter.open({ directory, nextSeq: 1, segmentBytesMax: 30_000 });
  for (let seq = 1; seq <= 60; seq++) await writer.append(RecordType.put, 'docs', payloadFor(seq));
  await writer.close();
  const verdicts = { corrupt: 0, torn: 0 };
  for (let seed = 1; seed <= 100; seed++) {
    const files = faulty({ seed, readBitFlipProbability: 0.3 });
    try {
      const { records, report } = await recoverAll(directory, files);
      assertIntact(records, `seed ${seed}: ${files.events.join('; ')}`);
      if (report.tornTail) verdicts.torn++;
      else assert.equal(files.events.length, 0, `seed ${seed}: a flip went unnoticed: ${files.events.join('; ')}`);
    } catch (error) {
      assert.ok(error instanceof WalCorruptionError, `seed ${seed}: ${String(error)}`);
      verdicts.corrupt++;
    }
  }
  t.diagnostic(`100 seeded reads: ${verdicts.corrupt} corrupt, ${verdicts.torn} torn tail (flip in the last record)`);
  assert.ok(verdicts.corrupt > 50);
});
