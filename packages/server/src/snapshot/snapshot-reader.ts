/**
 * Loading the current snapshot at startup. Every failure names the file: a missing or
 * unreadable manifest, a missing dataset file, a checksum mismatch, an undecodable stream.
 */
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RecordBatch, Schema } from 'apache-arrow';
import { FlightDataDecoder, splitIpcStream } from '@longbow/flight';
import { crc32c } from '../wal/crc32c.ts';
import { CURRENT_FILE, MANIFEST_FILE, parseManifest, type DatasetEntry, type Manifest, type TombstonesEntry } from './manifest.ts';
import { countSetBits } from '../store/dataset-rows.ts';

export class SnapshotCorruptionError extends Error {
  constructor(readonly file: string, reason: string) {
    super(`snapshot corrupt: ${file}: ${reason}`);
    this.name = 'SnapshotCorruptionError';
  }
}

export interface LoadedDataset {
  name: string;
  schema: Schema;
  batches: RecordBatch[];
  /** Deleted rows: a bitmap over the ordinals (bit i, LSB first); undefined when none. */
  deleted?: Uint8Array;
  /** Directory of the dataset's saved vector index, when the snapshot has one. */
  indexDirectory?: string;
}

export interface LoadedSnapshot {
  manifest: Manifest;
  datasets: LoadedDataset[];
  bytes: number;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Deletes half-written snapshot directories (`*.tmp`): a crash during a snapshot leaves them. */
export async function removeTemporarySnapshots(root: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const temporary = names.filter((name) => name.endsWith('.tmp'));
  for (const name of temporary) await rm(join(root, name), { recursive: true, force: true });
  return temporary;
}

function decodeDataset(path: string, name: string, bytes: Uint8Array): LoadedDataset {
  const decoder = new FlightDataDecoder();
  const batches: RecordBatch[] = [];
  try {
    for (const message of splitIpcStream(bytes)) {
      const decoded = decoder.decode(message);
      if (decoded.kind === 'batch') batches.push(decoded.batch);
    }
  } catch (error) {
    throw new SnapshotCorruptionError(path, (error as Error).message);
  }
  if (decoder.schema === null) throw new SnapshotCorruptionError(path, 'no schema message');
  return { name, schema: decoder.schema, batches };
}

/** The snapshot CURRENT names, or undefined when there is none. Throws SnapshotCorruptionError. */
export async function loadCurrentSnapshot(root: string): Promise<LoadedSnapshot | undefined> {
  const current = await readText(join(root, CURRENT_FILE));
  if (current === undefined) return undefined;
  const id = current.trim();
  const manifestPath = join(root, id, MANIFEST_FILE);
  if (!/^snapshot-\d{20}$/.test(id)) throw new SnapshotCorruptionError(join(root, CURRENT_FILE), `bad snapshot id "${id}"`);
  const text = await readText(manifestPath);
  if (text === undefined) throw new SnapshotCorruptionError(manifestPath, 'missing (CURRENT points to it)');
  const manifest = parseManifest(text);
  if (typeof manifest === 'string') throw new SnapshotCorruptionError(manifestPath, manifest);
  const datasets: LoadedDataset[] = [];
  let bytes = 0;
  for (const entry of manifest.datasets) {
    const path = join(root, id, entry.file);
    const data = await readChecked(path, entry);
    bytes += data.byteLength;
    const dataset = decodeDataset(path, entry.name, data);
    if (entry.tombstones !== undefined) {
      const tombstonesPath = join(root, id, entry.tombstones.file);
      const bitmap = await readChecked(tombstonesPath, entry.tombstones);
      bytes += bitmap.byteLength;
      dataset.deleted = checkTombstones(tombstonesPath, bitmap, entry, dataset);
    }
    // The index is checked when it is opened: a damaged one is rebuilt, never fatal.
    if (entry.index !== undefined) dataset.indexDirectory = join(root, id, entry.index);
    datasets.push(dataset);
  }
  return { manifest, datasets, bytes };
}

/** A file of the snapshot, checked against the size and CRC32C the manifest gives. */
async function readChecked(path: string, entry: DatasetEntry | TombstonesEntry): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (error) {
    throw new SnapshotCorruptionError(path, `unreadable (${(error as Error).message})`);
  }
  if (data.byteLength !== entry.fileBytes) throw new SnapshotCorruptionError(path, `${data.byteLength} bytes, the manifest says ${entry.fileBytes}`);
  if (crc32c(data) !== entry.crc32c) throw new SnapshotCorruptionError(path, 'checksum mismatch');
  return data;
}

/** The bitmap must cover exactly the dataset's rows and hold as many set bits as the manifest says. */
function checkTombstones(path: string, bitmap: Buffer, entry: DatasetEntry, dataset: LoadedDataset): Uint8Array {
  const rows = dataset.batches.reduce((sum, batch) => sum + batch.numRows, 0);
  if (bitmap.byteLength !== (rows + 7) >> 3) {
    throw new SnapshotCorruptionError(path, `${bitmap.byteLength} bytes do not cover the ${rows} rows of "${entry.name}"`);
  }
  const set = countSetBits(bitmap);
  if (rows % 8 !== 0 && bitmap[bitmap.byteLength - 1] >> (rows % 8) !== 0) throw new SnapshotCorruptionError(path, 'bits set past the last row');
  if (set !== entry.tombstones!.rows) throw new SnapshotCorruptionError(path, `${set} rows marked deleted, the manifest says ${entry.tombstones!.rows}`);
  return new Uint8Array(bitmap.buffer, bitmap.byteOffset, bitmap.byteLength);
}
