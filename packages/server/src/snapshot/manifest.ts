/**
 * The snapshot manifest: what a snapshot holds and how to check it. One JSON document per
 * snapshot directory (`manifest.json`); `snapshots/CURRENT` names the snapshot in force.
 */
export const SNAPSHOT_FORMAT_VERSION = 1;
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
  if (manifest.formatVersion !== SNAPSHOT_FORMAT_VERSION) return `unsupported format version ${String(manifest.formatVersion)}`;
  if (typeof manifest.id !== 'string' || !Number.isSafeInteger(manifest.seq) || !Array.isArray(manifest.datasets)) {
    return 'missing id, seq or datasets';
  }
  for (const entry of manifest.datasets) {
    if (typeof entry?.name !== 'string' || typeof entry.file !== 'string' || !/^[\w.-]+$/.test(entry.file)
      || !Number.isSafeInteger(entry.fileBytes) || !Number.isSafeInteger(entry.crc32c)) {
      return `bad dataset entry ${JSON.stringify(entry)}`;
    }
  }
  return manifest as Manifest;
}
