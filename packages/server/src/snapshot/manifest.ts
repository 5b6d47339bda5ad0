/**
 * The snapshot manifest: what a snapshot holds and how to check it. One JSON document per
 * snapshot directory (`manifest.json`); `snapshots/CURRENT` names the snapshot in force.
 */
/** Version 2 added `datasets[].tombstones` (deleted rows); version 1 snapshots are still read. */
export const SNAPSHOT_FORMAT_VERSION = 2;
export const SNAPSHOT_FORMAT_VERSIONS_READ: readonly number[] = [1, 2];
export const MANIFEST_FILE = 'manifest.json';
export const CURRENT_FILE = 'CURRENT';

export interface DatasetEntry {
  name: string;
  /** File inside the snapshot directory: an Arrow IPC stream (schema, dictionaries, batches). */
  file: string;
  rows: number;
  batches: number;
  fileBytes: number;
  /** CRC32C of the whole file. */
  crc32c: number;
  /** Present when rows of the dataset are deleted. */
  tombstones?: TombstonesEntry;
  /** Directory inside the snapshot directory holding the dataset's vector index (its own checksums). */
  index?: string;
}

/** The deleted rows of a dataset: a bitmap file over its ordinals (docs/formats.md). */
export interface TombstonesEntry {
  /** File inside the snapshot directory: ceil(rows / 8) bytes, bit i (LSB first) = ordinal i deleted. */
  file: string;
  /** Deleted rows: the number of bits set. */
  rows: number;
  fileBytes: number;
  crc32c: number;
}

export interface Manifest {
  formatVersion: number;
  id: string;
  /** Every write-ahead log record up to and including this sequence is in the snapshot. */
  seq: number;
  createdAt: string;
  datasets: DatasetEntry[];
}

/** Snapshot directory name for a sequence: zero-padded so names sort by sequence. */
export function snapshotId(seq: number): string {
  return `snapshot-${String(seq).padStart(20, '0')}`;
}

/** Parses and checks a manifest; returns a reason string when it is not a valid one. */
export function parseManifest(text: string): Manifest | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `not JSON (${(error as Error).message})`;
  }
  const manifest = value as Partial<Manifest>;
  if (!SNAPSHOT_FORMAT_VERSIONS_READ.includes(manifest.formatVersion as number)) return `unsupported format version ${String(manifest.formatVersion)}`;
  if (typeof manifest.id !== 'string' || !Number.isSafeInteger(manifest.seq) || !Array.isArray(manifest.datasets)) {
    return 'missing id, seq or datasets';
  }
  for (const entry of manifest.datasets) {
    if (typeof entry?.name !== 'string' || typeof entry.file !== 'string' || !/^[\w.-]+$/.test(entry.file)
      || !Number.isSafeInteger(entry.fileBytes) || !Number.isSafeInteger(entry.crc32c)) {
      return `bad dataset entry ${JSON.stringify(entry)}`;
    }
    if (entry.tombstones !== undefined && (manifest.formatVersion === 1 || !validTombstones(entry.tombstones))) {
      return `bad tombstones entry ${JSON.stringify(entry.tombstones)}`;
    }
    if (entry.index !== undefined && (typeof entry.index !== 'string' || !/^index-\d{6}$/.test(entry.index))) {
      return `bad index entry ${JSON.stringify(entry.index)}`;
    }
  }
  return manifest as Manifest;
}

function validTombstones(entry: TombstonesEntry | undefined): boolean {
  return typeof entry === 'object' && entry !== null && typeof entry.file === 'string' && /^[\w.-]+$/.test(entry.file)
    && Number.isSafeInteger(entry.rows) && entry.rows > 0
    && Number.isSafeInteger(entry.fileBytes) && Number.isSafeInteger(entry.crc32c);
}
