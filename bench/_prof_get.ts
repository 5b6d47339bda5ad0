import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTable, vectorFromArray, Float32, FixedSizeList, Field, tableFromArrays } from 'apache-arrow';
import { Longbow } from '@longbow/client';

const dir = mkdtempSync(join(tmpdir(), 'lbprof-'));
const port = 43000 + Math.floor(Math.random() * 1000);
const server = spawn('node', ['--import', 'tsx', 'packages/server/src/main.ts'], {
  env: { ...process.env, LONGBOW_LISTEN_ADDR: `127.0.0.1:${port}`, LONGBOW_META_ADDR: '127.0.0.1:0', LONGBOW_METRICS_ADDR: '127.0.0.1:0', LONGBOW_DATA_PATH: dir, LONGBOW_MAX_MEMORY: '0', LONGBOW_WAL_SYNC: 'off', LONGBOW_LOG_LEVEL: 'warn' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
await new Promise((r) => setTimeout(r, 2500));
const lb = await Longbow.connect(`grpc://127.0.0.1:${port}`);
const n = 100000, dim = 128;
const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt(i));
const flat = new Float32Array(n * dim).map(() => Math.random());
await lb.put('bench', { ids: Array.from({ length: n }, (_, i) => i), vectors: flat });
for (let i = 0; i < 25; i++) {
  const t = performance.now();
  const table = await lb.get('bench');
  const ms = performance.now() - t;
  if (i >= 5) console.log('get', ms.toFixed(1), 'ms', (52 / ms * 1000).toFixed(0), 'MB/s', table.numRows);
}
lb.close?.();
server.kill();
process.exit(0);
