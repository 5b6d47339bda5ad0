/**
 * Configuration from `LONGBOW_*` environment variables, validated with zod. Every variable is
 * listed once, in SETTINGS, with its default and description; docs/configuration.md lists the
 * same variables (a test checks).
 */
import { z } from 'zod';
import { CONCURRENT_MARKING_SETTINGS, type ConcurrentMarkingSetting } from '@longbow/flight';
import { LOG_LEVELS, type LogLevel } from '../log/logger.ts';
import { parseDuration, parseSize } from './units.ts';
import { HNSW_STORAGES, HNSW_STORAGE_DEFAULT, type HnswStorage } from '../index/hnsw-storage.ts';

export interface Config {
  listenAddr: string;
  metaAddr: string;
  dataPath: string;
  maxMemoryBytes: number;
  logLevel: LogLevel;
  authToken: string | undefined;
  grpcMessageBytesMax: number;
  walSync: 'fsync' | 'none' | 'off';
  walSegmentBytesMax: number;
  walStreamBytesMin: number;
  walRecovery: 'strict' | 'truncate';
  snapshotIntervalMs: number;
  metricsAddr: string;
  logFormat: 'json' | 'pretty';
  ttlMs: number;
  grpcWindowBytes: number;
  hnswM: number;
  hnswEfConstruction: number;
  hnswEfSearch: number;
  hnswStorage: HnswStorage;
  vectorIndex: 'hnsw' | 'exact';
  grpcTransport: 'http2' | 'node-http2' | 'grpc-js';
  gcConcurrentMarking: ConcurrentMarkingSetting;
}

const duration = (what: string) => z.string().transform((text, context) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    context.addIssue({ code: 'custom', message: `${what}: a Go-style duration, e.g. 30s, 5m, 1h30m, or 0 for off` });
    return z.NEVER;
  }
  return ms;
});

const address = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'host:port, e.g. 0.0.0.0:3000');

const size = (what: string) => z.string().transform((text, context) => {
  const bytes = parseSize(text);
  if (bytes === undefined) {
    context.addIssue({ code: 'custom', message: `${what}: bytes or a size with a unit, e.g. 1073741824, 512MiB, 2GB` });
    return z.NEVER;
  }
  return bytes;
});

const positiveInteger = (max: number) => z.string().regex(/^\d+$/, 'a whole number').transform(Number)
  .pipe(z.number().int().min(1, 'at least 1').max(max, `at most ${max}`));

interface Setting {
  variable: string;
  defaultValue: string | undefined;
  schema: z.ZodType;
  description: string;
}

/** Every setting, in documentation order. */
export const SETTINGS = {
  listenAddr: { variable: 'LONGBOW_LISTEN_ADDR', defaultValue: '0.0.0.0:3000', schema: address, description: 'Data port: the full Flight service.' },
  metaAddr: { variable: 'LONGBOW_META_ADDR', defaultValue: '0.0.0.0:3001', schema: address, description: 'Meta port: the same full Flight service, for control traffic.' },
  dataPath: { variable: 'LONGBOW_DATA_PATH', defaultValue: './data', schema: z.string().min(1), description: 'Directory for the write-ahead log and snapshots.' },
  maxMemoryBytes: { variable: 'LONGBOW_MAX_MEMORY', defaultValue: '1GiB', schema: size('size'), description: 'Memory limit for stored data in bytes (units allowed); 0 means unlimited.' },
  logLevel: { variable: 'LONGBOW_LOG_LEVEL', defaultValue: 'info', schema: z.string().transform((s) => s.toLowerCase()).pipe(z.enum(LOG_LEVELS)), description: 'trace, debug, info, warn, error, fatal or silent.' },
  authToken: { variable: 'LONGBOW_AUTH_TOKEN', defaultValue: undefined, schema: z.string().min(1), description: 'When set, every call needs `authorization: Bearer <token>`.' },
  grpcMessageBytesMax: { variable: 'LONGBOW_GRPC_MAX_MSG_SIZE', defaultValue: '-1', schema: z.union([z.literal('-1').transform(() => -1), size('size')]), description: 'Largest gRPC message in bytes; -1 means no limit (pyarrow sends a whole table as one message).' },
  walSync: { variable: 'LONGBOW_WAL_SYNC', defaultValue: 'fsync', schema: z.enum(['fsync', 'none', 'off']), description: '`fsync`: a write is acknowledged once its WAL record is on disk. `none`: once written to the OS (lost on power failure). `off`: no WAL at all, memory only (nothing survives a restart). Both of the latter are logged loudly at startup.' },
  walSegmentBytesMax: { variable: 'LONGBOW_MAX_WAL_SIZE', defaultValue: '100MiB', schema: size('size'), description: 'Size at which a WAL segment file is closed and the next one started.' },
  walStreamBytesMin: { variable: 'LONGBOW_WAL_STREAM_SIZE', defaultValue: '16MiB', schema: size('size'), description: 'A DoPut record batch of at least this many bytes is written to the WAL while it arrives, not after, so that receiving and logging overlap; `0` turns this off.' },
  walRecovery: { variable: 'LONGBOW_WAL_RECOVERY', defaultValue: 'strict', schema: z.enum(['strict', 'truncate']), description: '`strict`: refuse to start on a corrupt WAL record before the tail. `truncate`: cut the log at the corruption and start (records after it are lost).' },
  snapshotIntervalMs: { variable: 'LONGBOW_SNAPSHOT_INTERVAL', defaultValue: '1h', schema: duration('duration'), description: 'How often a snapshot is written (Go-style duration: `30s`, `5m`, `1h`); `0` turns the timer off (force_snapshot still works).' },
  metricsAddr: { variable: 'LONGBOW_METRICS_ADDR', defaultValue: '0.0.0.0:9090', schema: address, description: 'HTTP port for `/metrics` (Prometheus text) and `/healthz`.' },
  logFormat: { variable: 'LONGBOW_LOG_FORMAT', defaultValue: 'json', schema: z.enum(['json', 'pretty']), description: '`json`: one JSON object per line. `pretty`: one readable line per event, for a terminal.' },
  ttlMs: { variable: 'LONGBOW_TTL', defaultValue: '0', schema: duration('duration'), description: 'A dataset neither read nor written for this long is dropped (durably, logged); `0` keeps datasets forever.' },
  grpcWindowBytes: { variable: 'LONGBOW_GRPC_WINDOW_SIZE', defaultValue: '32MiB', schema: size('size'), description: 'HTTP/2 flow-control window per connection and per stream; large windows keep big DoPuts fast.' },
  hnswM: { variable: 'LONGBOW_HNSW_M', defaultValue: '16', schema: positiveInteger(256), description: 'HNSW graph degree (links per node); higher: better recall, more memory, slower build.' },
  hnswEfConstruction: { variable: 'LONGBOW_HNSW_EF_CONSTRUCTION', defaultValue: '128', schema: positiveInteger(4096), description: 'HNSW candidate list size while building; higher: better graph, slower build.' },
  vectorIndex: { variable: 'LONGBOW_VECTOR_INDEX', defaultValue: 'hnsw', schema: z.enum(['hnsw', 'exact']), description: '`hnsw`: a dataset with more than 8 MiB of vectors gets an HNSW graph, built in the background. `exact`: no graphs; every search scans the vectors exactly (no background CPU, slower searches of large datasets).' },
  grpcTransport: { variable: 'LONGBOW_GRPC_TRANSPORT', defaultValue: 'http2', schema: z.enum(['http2', 'node-http2', 'grpc-js']), description: 'The gRPC transport of both ports. `http2`: Longbow\'s own HTTP/2 (fastest for large batches). `node-http2`: Node\'s `node:http2`. `grpc-js`: @grpc/grpc-js. The last two are there as fallbacks; all three serve the same protocol.' },
  hnswEfSearch: { variable: 'LONGBOW_HNSW_EF_SEARCH', defaultValue: '64', schema: positiveInteger(4096), description: 'HNSW candidate list size per query (a search may override it with `ef`); higher: better recall, slower search.' },
  hnswStorage: { variable: 'LONGBOW_HNSW_STORAGE', defaultValue: HNSW_STORAGE_DEFAULT, schema: z.enum(HNSW_STORAGES as unknown as [HnswStorage, ...HnswStorage[]]), description: 'Precision of the HNSW graph\'s own copy of the vectors, for graphs built from now on (a saved graph keeps its own). `bf16`: half the memory of `f32`, as fast or faster. `i8`: a quarter of the memory, searches 1.2-1.3x faster than `bf16` (as served), with values scaled to the range of a dataset\'s first 8 MiB of vectors and clipped beyond it (cosine: each vector by its own). Results are re-scored exactly from the stored float32 vectors in every case (docs/search.md, "Graph precision").' },
  gcConcurrentMarking: { variable: 'LONGBOW_GC_CONCURRENT_MARKING', defaultValue: 'auto', schema: z.enum(CONCURRENT_MARKING_SETTINGS), description: 'V8\'s concurrent marking (garbage collection on helper threads). `auto`: off with 2 cores or fewer (the affinity mask, capped by a cgroup CPU quota), where those threads compete with the event loop and cost a large put more CPU than they save (docs/performance.md, "Garbage collection"); left as Node started otherwise. `on`, `off`: always.' },
} as const satisfies Record<keyof Config, Setting>;

/** A configuration problem, naming the variable and the accepted form. */
export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** Reads and validates the configuration from `env`. Throws ConfigError on the first bad value. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [keyof Config, Setting][]) {
    const raw = env[setting.variable] ?? setting.defaultValue;
    if (raw === undefined) {
      out[key] = undefined;
      continue;
    }
    const parsed = setting.schema.safeParse(raw);
    if (!parsed.success) {
      const reason = parsed.error.issues.map((issue) => issue.message).join('; ');
      throw new ConfigError(setting.variable, `invalid value ${JSON.stringify(raw)} (${reason})`);
    }
    out[key] = parsed.data;
  }
  return out as unknown as Config;
}
