import { join } from 'node:path';
import type { ActionDefinition, ActionContext } from './action.ts';
import { SETTINGS, type Config } from '../config/config.ts';
import { formatDuration } from '../config/units.ts';
import { walDiskUsage } from '../wal/disk-usage.ts';
import type { Dataset } from '../store/dataset.ts';
import type { VectorIndexes } from '../store/vector-indexes.ts';

/** Settings shown as durations; every other one is shown as parsed. */
const DURATION_SETTINGS = new Set<keyof Config>(['snapshotIntervalMs', 'ttlMs']);

/** The configuration in force, by variable name; the auth token only as "set". */
export function configInForce(config: Config): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [keyof Config, { variable: string }][]) {
    const value = config[key];
    if (key === 'authToken') out[setting.variable] = value === undefined ? null : 'set';
    else if (DURATION_SETTINGS.has(key)) out[setting.variable] = formatDuration(value as number);
    else out[setting.variable] = value ?? null;
  }
  return out;
}

function datasetEntry(dataset: Dataset, indexes: VectorIndexes | undefined) {
  const index = indexes?.status(dataset);
  const stats = dataset.stats();
  const { vector, id, metric } = dataset.roles;
  return {
    ...Object.fromEntries(Object.entries(stats).map(([key, value]) => [key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), value])),
    schema: dataset.schema.fields.map((field) => ({ name: field.name, type: String(field.type), nullable: field.nullable })),
    vector: vector ? { column: vector.name, dimensions: vector.dimensions, element_type: vector.elementType, metric } : null,
    id_column: id ? { column: id.name, type: id.type } : null,
    index: index ? { state: index.state, indexed_rows: index.indexedRows, bytes: index.memoryBytes } : null,
    idle_seconds: Math.max(0, Math.round((Date.now() - dataset.lastAccessMs) / 1000)),
  };
}

async function walStats({ store, config }: ActionContext) {
  const enabled = config.walSync !== 'off';
  const usage = enabled ? await walDiskUsage(join(config.dataPath, 'wal')) : { segments: 0, bytes: 0 };
  return { enabled, sync: config.walSync, last_seq: store.lastSequence, segments: usage.segments, bytes: usage.bytes };
}

function snapshotStats({ snapshotter }: ActionContext) {
  if (!snapshotter) return null;
  const last = snapshotter.lastSnapshot;
  return {
    succeeded: snapshotter.succeeded,
    failed: snapshotter.failed,
    last: last ? { id: last.id, seq: last.seq, at: last.at, bytes: last.bytes, rows: last.rows, duration_ms: last.durationMs } : null,
  };
}

/**
 * `get_stats`: `{"current_memory","max_memory","datasets"}` (the seed fields, unchanged) plus
 * totals, uptime, the WAL, the last snapshot, the configuration in force and one entry per
 * dataset. Reading stats does not count as using a dataset (TTL).
 */
export const getStats: ActionDefinition = {
  type: 'get_stats',
  description: 'Server statistics: memory, datasets (rows, bytes, schema), WAL, last snapshot, uptime, configuration in force.',
  async run(_body, context) {
    const { store, startedAtMs } = context;
    const stats = store.stats();
    const datasets = store.list();
    return [{
      current_memory: stats.currentMemoryBytes,
      max_memory: stats.maxMemoryBytes,
      datasets: stats.datasets.length,
      total_rows: stats.datasets.reduce((sum, dataset) => sum + dataset.rows, 0),
      total_batches: stats.datasets.reduce((sum, dataset) => sum + dataset.batches, 0),
      uptime_seconds: Math.round((Date.now() - startedAtMs) / 1000),
      wal: await walStats(context),
      snapshot: snapshotStats(context),
      config: configInForce(context.config),
      index_memory: context.vectorIndexes?.memoryBytes ?? 0,
      dataset_stats: datasets.map((dataset) => datasetEntry(dataset, context.vectorIndexes)),
    }];
  },
};
