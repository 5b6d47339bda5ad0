import { longbowError } from '../errors.ts';
import type { ActionDefinition } from './action.ts';

/** `force_snapshot`: writes a snapshot now; the reply says what it holds. Fails with an error status, never a silent ok. */
export const forceSnapshot: ActionDefinition = {
  type: 'force_snapshot',
  description: 'Writes a snapshot of every dataset now and trims the write-ahead log it covers.',
  async run(_body, { snapshotter }) {
    if (!snapshotter) throw longbowError('NOT_IMPLEMENTED', 'snapshots need the write-ahead log (LONGBOW_WAL_SYNC is off)');
    let result;
    try {
      result = await snapshotter.snapshot();
    } catch (error) {
      throw longbowError('SNAPSHOT_FAILED', (error as Error).message);
    }
    return [{
      status: 'ok', message: 'snapshot created', id: result.id, seq: result.seq, bytes: result.bytes,
      datasets: result.datasets, rows: result.rows, duration_ms: Math.round(result.durationMs),
      wal_segments_deleted: result.walSegmentsDeleted,
    }];
  },
};
