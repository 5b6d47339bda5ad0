import type { ActionDefinition } from './action.ts';

/**
 * `get_stats`: `{"current_memory","max_memory","datasets"}` (the seed fields, unchanged) plus
 * totals, uptime and one entry per dataset.
 */
export const getStats: ActionDefinition = {
  type: 'get_stats',
  description: 'Server statistics: memory in use and limit, dataset count, rows, per-dataset sizes.',
  async run(_body, { store, startedAtMs }) {
    const stats = store.stats();
    return [{
      current_memory: stats.currentMemoryBytes,
      max_memory: stats.maxMemoryBytes,
      datasets: stats.datasets.length,
      total_rows: stats.datasets.reduce((sum, dataset) => sum + dataset.rows, 0),
      total_batches: stats.datasets.reduce((sum, dataset) => sum + dataset.batches, 0),
      uptime_seconds: Math.round((Date.now() - startedAtMs) / 1000),
      dataset_stats: stats.datasets.map((dataset) => ({
        name: dataset.name, rows: dataset.rows, bytes: dataset.bytes, batches: dataset.batches, columns: dataset.columns,
      })),
    }];
  },
};
