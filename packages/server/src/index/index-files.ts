/**
 * The files of a saved vector index, in the directory the snapshot gives it:
 *
 *   index.json     IndexMeta below (format name, version, parameters, rows covered, and the
 *                  graph file's length and CRC32C)
 *   hnsw.usearch   the HNSW graph in usearch's own format (absent for exact-only datasets)
 *
 * docs/formats.md describes the same layout.
 */
import { open, readFile } from 'node:fs/promises';
import { isMetric, type Metric } from './metric.ts';
import { HNSW_STORAGES, takesScale, type HnswStorage } from './hnsw-storage.ts';

export const INDEX_META_FILE_NAME = 'index.json';
export const GRAPH_FILE_NAME = 'hnsw.usearch';
export const INDEX_FORMAT = 'longbow-vector-index';
export const INDEX_FORMAT_VERSION = 1;

export interface IndexMeta {
  dimensions: number;
  metric: Metric;
  m: number;
  storage: HnswStorage;
  /** An i8 graph of a euclidean or dot_product dataset: its quantization scale (HnswOptions.scale). */
  scale?: number;
  /** Ordinals the graph covers: 0 .. rows-1. */
  rows: number;
  graph: { bytes: number; crc32c: number } | null;
}

/** Writes index.json (fsync'd); returns its length. */
export async function writeIndexMeta(directory: string, meta: IndexMeta): Promise<number> {
  const text = `${JSON.stringify({ format: INDEX_FORMAT, version: INDEX_FORMAT_VERSION, ...meta }, null, 2)}\n`;
  const file = await open(`${directory}/${INDEX_META_FILE_NAME}`, 'w');
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
  return Buffer.byteLength(text);
}

function positiveInteger(value: unknown, zeroAllowed = false): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= (zeroAllowed ? 0 : 1);
}

/** Reads and checks index.json. Throws when missing or not a valid meta file of this version. */
export async function readIndexMeta(directory: string): Promise<IndexMeta> {
  const path = `${directory}/${INDEX_META_FILE_NAME}`;
  const json = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  const bad = (what: string) => new Error(`${path}: ${what}`);
  if (json.format !== INDEX_FORMAT) throw bad(`not a ${INDEX_FORMAT} file`);
  if (json.version !== INDEX_FORMAT_VERSION) throw bad(`version ${String(json.version)} is not supported (${INDEX_FORMAT_VERSION} is)`);
  const { dimensions, metric, m, storage, scale, rows, graph } = json;
  if (!positiveInteger(dimensions) || !positiveInteger(m) || !positiveInteger(rows, true)) throw bad('bad dimensions, m or rows');
  if (typeof metric !== 'string' || !isMetric(metric)) throw bad(`unknown metric ${JSON.stringify(metric)}`);
  if (typeof storage !== 'string' || !(HNSW_STORAGES as readonly string[]).includes(storage)) throw bad(`unknown storage ${JSON.stringify(storage)}`);
  // Only a graph has a scale: an exact-only dataset's file names the storage it would use.
  const scaled = takesScale(storage as HnswStorage, metric) && graph !== null;
  if (scaled && !(typeof scale === 'number' && Number.isFinite(scale) && scale > 0)) throw bad(`i8 storage needs a positive scale, got ${JSON.stringify(scale)}`);
  let graphFile: IndexMeta['graph'] = null;
  if (graph !== null) {
    const { bytes, crc32c } = (graph ?? {}) as Record<string, unknown>;
    if (!positiveInteger(bytes, true) || !positiveInteger(crc32c, true)) throw bad('bad graph length or checksum');
    graphFile = { bytes, crc32c };
  }
  return { dimensions, metric, m, storage: storage as HnswStorage, ...(scaled ? { scale: scale as number } : {}), rows, graph: graphFile };
}
