/**
 * Writing a snapshot: every dataset as an Arrow IPC stream file (and a bitmap file of its
 * deleted rows, when it has some), plus a manifest, into
 * `snapshots/<id>.tmp/`; fsync the files and the directory; rename to `snapshots/<id>/`; then
 * switch `snapshots/CURRENT` atomically (write, fsync, rename, fsync the directory). Batches
 * are immutable, so the files are written from the captured arrays while writes go on.
 */
import assert from 'node:assert/strict';
import { open, mkdir, readFile, rename, rm, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RecordBatch, Schema } from 'apache-arrow';
import { FlightDataEncoder, ipcStreamPieces } from '@longbow/flight';
import { crc32cUpdate } from '../wal/crc32c.ts';
import { countSetBits } from '../store/dataset-rows.ts';
import { CURRENT_FILE, MANIFEST_FILE, SNAPSHOT_FORMAT_VERSION, parseManifest, snapshotId, type DatasetEntry, type Manifest, type TombstonesEntry } from './manifest.ts';

/** A dataset as captured at the snapshot's sequence. */
export interface CapturedDataset {
  name: string;
  schema: Schema;
  /** Batches in the dataset's current schema (older ones padded with null columns). */
  batches: readonly RecordBatch[];
  /** Rows in the batches, deleted ones included. */
  rows: number;
  /** Deleted rows: a bitmap over the ordinals 0 .. rows (bit i, LSB first), ceil(rows / 8) bytes. */
  deleted?: Uint8Array;
  /** Writes the dataset's vector index into a directory; resolves false when there is none. */
  saveIndex?: (directory: string) => Promise<boolean>;
}

/** writev takes at most IOV_MAX (1024 on Linux) buffers per call. */
const WRITEV_BUFFERS_MAX = 1024;

async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes pieces in order, fsyncs; returns bytes written and the CRC32C of the file. */
async function writeFileOfPieces(path: string, pieces: readonly Uint8Array[]): Promise<{ bytes: number; crc: number }> {
  const handle = await open(path, 'wx');
  let bytes = 0;
  let crc = 0;
  try {
    for (let start = 0; start < pieces.length; start += WRITEV_BUFFERS_MAX) {
      const group = pieces.slice(start, start + WRITEV_BUFFERS_MAX);
      let pending = group.filter((piece) => piece.byteLength > 0);
      for (const piece of pending) crc = crc32cUpdate(crc, piece);
      while (pending.length > 0) {
        const { bytesWritten } = await handle.writev(pending as NodeJS.ArrayBufferView[]);
        bytes += bytesWritten;
        pending = dropWritten(pending, bytesWritten);
      }
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { bytes, crc };
}

function dropWritten(pieces: Uint8Array[], written: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  for (const piece of pieces) {
    if (written >= piece.byteLength) { written -= piece.byteLength; continue; }
    rest.push(written > 0 ? piece.subarray(written) : piece);
    written = 0;
  }
  return rest;
}

function datasetPieces(dataset: CapturedDataset): Uint8Array[] {
  const encoder = new FlightDataEncoder(dataset.schema);
  const messages = [encoder.schemaMessage()];
  for (const batch of dataset.batches) messages.push(...encoder.batchMessages(batch));
  return ipcStreamPieces(messages);
}

export interface SnapshotWritten {
  manifest: Manifest;
  directory: string;
  bytes: number;
}

/** Writes a complete snapshot of `datasets` at `seq` and makes it current. */
export async function writeSnapshot(root: string, seq: number, datasets: readonly CapturedDataset[]): Promise<SnapshotWritten> {
  const id = snapshotId(seq);
  const temporary = join(root, `${id}.tmp`);
  const final = join(root, id);
  await mkdir(root, { recursive: true });
  // Nothing written since the snapshot in force (an idle server): it already holds every write
  // up to `seq`. Never remove the directory CURRENT names: the log it covers is gone.
  const current = await currentSnapshot(root, id);
  if (current) return current;
  await rm(temporary, { recursive: true, force: true });
  await rm(final, { recursive: true, force: true });
  await mkdir(temporary);
  const entries: DatasetEntry[] = [];
  let bytes = 0;
  for (const [index, dataset] of datasets.entries()) {
    const file = `dataset-${String(index).padStart(6, '0')}.arrows`;
    const written = await writeFileOfPieces(join(temporary, file), datasetPieces(dataset));
    bytes += written.bytes;
    const entry: DatasetEntry = { name: dataset.name, file, rows: dataset.rows, batches: dataset.batches.length, fileBytes: written.bytes, crc32c: written.crc };
    const tombstones = await writeTombstones(temporary, index, dataset);
    if (tombstones !== undefined) {
      entry.tombstones = tombstones;
      bytes += tombstones.fileBytes;
    }
    if (dataset.saveIndex) {
      const directory = `index-${String(index).padStart(6, '0')}`;
      await mkdir(join(temporary, directory));
      if (await dataset.saveIndex(join(temporary, directory))) {
        await fsyncDirectory(join(temporary, directory));
        entry.index = directory;
      } else {
        await rm(join(temporary, directory), { recursive: true, force: true });
      }
    }
    entries.push(entry);
  }
  const manifest: Manifest = { formatVersion: SNAPSHOT_FORMAT_VERSION, id, seq, createdAt: new Date().toISOString(), datasets: entries };
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  await writeFileOfPieces(join(temporary, MANIFEST_FILE), [manifestBytes]);
  bytes += manifestBytes.byteLength;
  await fsyncDirectory(temporary);
  await rename(temporary, final);
  await fsyncDirectory(root);
  await switchCurrent(root, id);
  return { manifest, directory: final, bytes };
}

/** The snapshot `id` when CURRENT names it and its manifest reads back. */
async function currentSnapshot(root: string, id: string): Promise<SnapshotWritten | undefined> {
  let named: string;
  try {
    named = (await readFile(join(root, CURRENT_FILE), 'utf8')).trim();
  } catch {
    return undefined;
  }
  if (named !== id) return undefined;
  const manifest = parseManifest(await readFile(join(root, id, MANIFEST_FILE), 'utf8').catch(() => ''));
  return typeof manifest === 'string' ? undefined : { manifest, directory: join(root, id), bytes: 0 };
}

/** Writes the deleted-rows bitmap of a dataset that has deleted rows. */
async function writeTombstones(directory: string, index: number, dataset: CapturedDataset): Promise<TombstonesEntry | undefined> {
  const bitmap = dataset.deleted;
  if (bitmap === undefined) return undefined;
  assert.equal(bitmap.length, (dataset.rows + 7) >> 3, `deleted-rows bitmap of "${dataset.name}" does not cover its ${dataset.rows} rows`);
  const rows = countSetBits(bitmap);
  if (rows === 0) return undefined;
  const file = `dataset-${String(index).padStart(6, '0')}.deleted`;
  const written = await writeFileOfPieces(join(directory, file), [bitmap]);
  return { file, rows, fileBytes: written.bytes, crc32c: written.crc };
}

/** Points CURRENT at `id` atomically. */
async function switchCurrent(root: string, id: string): Promise<void> {
  const temporary = join(root, `${CURRENT_FILE}.tmp`);
  await writeFile(temporary, `${id}\n`, { flush: true });
  await rename(temporary, join(root, CURRENT_FILE));
  await fsyncDirectory(root);
}

/** Removes every snapshot directory but `keepId`, and any leftover temporary one. */
export async function removeOtherSnapshots(root: string, keepId: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(root)) {
    if (!name.startsWith('snapshot-') || name === keepId) continue;
    await rm(join(root, name), { recursive: true, force: true });
    removed.push(name);
  }
  if (removed.length > 0) await fsyncDirectory(root);
  return removed;
}
