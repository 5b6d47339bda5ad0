/** Test helpers: Arrow tables and a Longbow server on free ports with a temp data dir. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Field, FixedSizeList, Float32, Int64, RecordBatch, Schema, Struct, Utf8, makeData, vectorFromArray, type Data,
} from 'apache-arrow';
import { FlightClient } from '@longbow/flight';
import { LongbowServer, createLogger, loadConfig, type Config } from '../src/index.ts';

export function vectorField(dimensions: number, name = 'vector'): Field {
  return new Field(name, new FixedSizeList(dimensions, new Field('item', new Float32(), false)), false);
}

/** A batch with `id` int64, `vector` float32[dim] and `label` utf8 (every 5th null). */
export function makeBatch(rows: number, dimensions = 4, startId = 0, metadata?: Map<string, string>): RecordBatch {
  const ids = new BigInt64Array(rows).map((_, i) => BigInt(startId + i));
  const values = new Float32Array(rows * dimensions).map((_, i) => (startId * dimensions + i) / 7);
  const labels = Array.from({ length: rows }, (_, i) => ((startId + i) % 5 === 0 ? null : `row-${startId + i}`));
  const fields = [new Field('id', new Int64(), false), vectorField(dimensions), new Field('label', new Utf8(), true)];
  const schema = new Schema(fields, metadata);
  const child = makeData({ type: new Float32(), length: rows * dimensions, data: values });
  const children: Data[] = [
    makeData({ type: new Int64(), length: rows, data: ids }),
    makeData({ type: fields[1].type as FixedSizeList, length: rows, child }),
    vectorFromArray(labels, new Utf8()).data[0],
  ];
  return new RecordBatch(schema, makeData({ type: new Struct(fields), length: rows, nullCount: 0, children }));
}

export interface RunningServer {
  server: LongbowServer;
  client: FlightClient;
  dataAddr: string;
  metaAddr: string;
  /** The metrics HTTP endpoint, `127.0.0.1:<port>`. */
  metricsAddr: string;
  dataPath: string;
  stop(): Promise<void>;
}

export async function startServer(env: Record<string, string> = {}, existingDataPath?: string): Promise<RunningServer> {
  const dataPath = existingDataPath ?? mkdtempSync(join(tmpdir(), 'longbow-test-'));
  const config: Config = loadConfig({
    LONGBOW_LISTEN_ADDR: '127.0.0.1:0', LONGBOW_META_ADDR: '127.0.0.1:0', LONGBOW_METRICS_ADDR: '127.0.0.1:0',
    LONGBOW_DATA_PATH: dataPath,
    LONGBOW_LOG_LEVEL: 'silent', ...env,
  });
  const server = new LongbowServer(config, createLogger({ level: config.logLevel }));
  const { dataAddr, metaAddr, metricsAddr } = await server.start();
  const client = new FlightClient(`grpc://${dataAddr}`, { token: env.LONGBOW_AUTH_TOKEN });
  return {
    server, client, dataAddr, metaAddr, metricsAddr, dataPath,
    async stop() {
      client.close();
      await server.stop();
      rmSync(dataPath, { recursive: true, force: true });
    },
  };
}
