/**
 * Process crash test: a real server child process takes concurrent DoPuts and is SIGKILLed at
 * a random moment; after a restart every acknowledged batch is present exactly once, and a
 * batch that was not acknowledged is either whole or absent. Some iterations also run a
 * snapshot while writing, so kills land mid-snapshot too. Half the writers put batches large
 * enough to be written to the log while they arrive (put regions and commits), the other half
 * batches logged whole. Iterations: CRASH_ITERATIONS (default 20; `npm run test:crash-soak`
 * runs 200). Seeded: CRASH_SEED.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlightClient, pathDescriptor } from '@longbow/flight';
import { makeBatch } from './helpers.ts';
import { startServerProcess } from './server-process.ts';
import { seededRandom } from '../src/wal/faulty-file-layer.ts';

const ITERATIONS = Number(process.env.CRASH_ITERATIONS ?? 20);
const WRITERS = 4;
const ROWS_PER_BATCH = 16;
/** The server streams batches of at least this many bytes to the log. */
const STREAM_SIZE = '2KiB';
/** Writers below WRITERS / 2 put 8-dimension batches (~0.7 KB, logged whole) to `crash`, the others 64-dimension ones (~4.3 KB, streamed) to `crash-wide`. */
function layoutOf(writer: number): { dataset: string; dimensions: number } {
  return writer < WRITERS / 2 ? { dataset: 'crash', dimensions: 8 } : { dataset: 'crash-wide', dimensions: 64 };
}


interface Child {
  child: ChildProcess;
  address: string;
  metricsAddr: string;
  /** Resolves with the exit code or signal, whenever the process ends. */
  exited: Promise<number | string | null>;
  output(): string;
}

async function startChild(dataPath: string): Promise<Child> {
  const server = await startServerProcess({ LONGBOW_DATA_PATH: dataPath, LONGBOW_WAL_STREAM_SIZE: STREAM_SIZE });
  server.client.close(); // the writers bring their own clients
  return { child: server.child, address: server.dataAddr, metricsAddr: server.metricsAddr, exited: server.exited, output: server.output };
}

/** Writes batches until the server dies; returns the first ids of the acknowledged ones. */
async function writeUntilDead(address: string, writer: number, iteration: number, attempted: Set<number>): Promise<number[]> {
  const client = new FlightClient(`grpc://${address}`);
  const acked: number[] = [];
  const { dataset, dimensions } = layoutOf(writer);
  try {
    for (let k = 0; ; k++) {
      const firstId = ((iteration * WRITERS + writer) * 100_000 + k) * ROWS_PER_BATCH;
      attempted.add(firstId);
      const batch = makeBatch(ROWS_PER_BATCH, dimensions, firstId);
      await client.doPut(pathDescriptor(dataset), batch.schema, [batch]);
      acked.push(firstId);
    }
  } catch {
    return acked; // the server was killed
  } finally {
    client.close();
  }
}

async function snapshotUntilDead(address: string): Promise<void> {
  const client = new FlightClient(`grpc://${address}`);
  try {
    await client.doActionJson('force_snapshot');
  } catch {
    // killed mid-snapshot: the next start must cope with whatever was left on disk
  } finally {
    client.close();
  }
}

/** How often each id is present, over both datasets (ids never repeat across writers). */
async function readIds(address: string): Promise<Map<number, number>> {
  const client = new FlightClient(`grpc://${address}`);
  try {
    const counts = new Map<number, number>();
    for (const dataset of ['crash', 'crash-wide']) {
      try {
        for await (const batch of client.doGet(dataset)) {
          for (const id of batch.getChild('id')!) counts.set(Number(id), (counts.get(Number(id)) ?? 0) + 1);
        }
      } catch (error) {
        if ((error as { code?: number }).code !== 5) throw error; // NOT_FOUND: nothing acknowledged there yet
      }
    }
    return counts;
  } finally {
    client.close();
  }
}

/** Puts that were written to the log while they arrived, as the server counts them. */
async function streamedPuts(metricsAddr: string): Promise<number> {
  const text = await (await fetch(`http://${metricsAddr}/metrics`)).text();
  return Number(/^longbow_wal_streamed_puts_total (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

function checkBatches(counts: Map<number, number>, acked: Set<number>, attempted: Set<number>): void {
  for (const firstId of attempted) {
    const present = Array.from({ length: ROWS_PER_BATCH }, (_, i) => counts.get(firstId + i) ?? 0);
    if (acked.has(firstId)) {
      assert.ok(present.every((count) => count === 1), `acknowledged batch ${firstId} must be present exactly once, got ${present}`);
    } else {
      assert.ok(present.every((count) => count === 0) || present.every((count) => count === 1),
        `unacknowledged batch ${firstId} must be whole or absent, got ${present}`);
    }
  }
  const known = new Set([...attempted].flatMap((firstId) => Array.from({ length: ROWS_PER_BATCH }, (_, i) => firstId + i)));
  for (const id of counts.keys()) assert.ok(known.has(id), `row ${id} was never written`);
}

test(`SIGKILL during concurrent DoPuts loses no acknowledged batch (${ITERATIONS} iterations)`, { timeout: ITERATIONS * 20_000 }, async () => {
  const seed = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);
  const next = seededRandom(seed);
  const dataPath = mkdtempSync(join(tmpdir(), 'longbow-crash-'));
  const acked = new Set<number>();
  const attempted = new Set<number>();
  let totalAcked = 0;
  let streamed = 0;
  try {
    for (let iteration = 0; iteration < ITERATIONS; iteration++) {
      const { child, address, metricsAddr, exited, output } = await startChild(dataPath);
      checkBatches(await readIds(address), acked, attempted);
      const writers = Array.from({ length: WRITERS }, (_, writer) => writeUntilDead(address, writer, iteration, attempted));
      // Now and then a snapshot runs while the writes go on, so kills also land mid-snapshot
      // (and the log the next start replays stays short).
      if (next() < 0.3) void snapshotUntilDead(address);
      const killAfterMs = 100 + Math.floor(next() * 600);
      await new Promise((resolve) => setTimeout(resolve, killAfterMs));
      assert.equal(child.exitCode, null, `the server died on its own before the kill (seed ${seed}, iteration ${iteration}):\n${output()}`);
      streamed += await streamedPuts(metricsAddr);
      child.kill('SIGKILL');
      await exited;
      for (const firstIds of await Promise.all(writers)) for (const firstId of firstIds) { acked.add(firstId); totalAcked++; }
    }
    const { child, address, exited } = await startChild(dataPath);
    try {
      checkBatches(await readIds(address), acked, attempted);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    assert.ok(totalAcked > ITERATIONS, `the writers must get acknowledgements (seed ${seed}): ${totalAcked}`);
    assert.ok(streamed > ITERATIONS, `the wide batches must be written while they arrive (seed ${seed}): ${streamed}`);
    process.stdout.write(`# crash test: seed ${seed}, ${ITERATIONS} kills, ${totalAcked} acknowledged batches (${streamed}+ streamed), all present exactly once\n`);
  } finally {
    rmSync(dataPath, { recursive: true, force: true });
  }
});
