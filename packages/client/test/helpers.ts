/** Client test helpers: a real server on free ports (see packages/server/test/helpers.ts) and a connected client. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startServer as startLongbowServer, type RunningServer } from '../../server/test/helpers.ts';
import { Longbow } from '../src/index.ts';

export { makeBatch } from '../../server/test/helpers.ts';

export interface ClientFixture {
  server: RunningServer;
  lb: Longbow;
  url: string;
  stop(): Promise<void>;
}

/** A server (port 0, temp data dir, metrics on port 0) and a Longbow client connected to it. */
export async function startClientFixture(env: Record<string, string> = {}): Promise<ClientFixture> {
  const server = await startLongbowServer({ LONGBOW_METRICS_ADDR: '127.0.0.1:0', ...env });
  const url = `grpc://${server.dataAddr}`;
  const lb = await Longbow.connect(url, { token: env.LONGBOW_AUTH_TOKEN });
  return {
    server, lb, url,
    async stop() {
      lb.close();
      await server.stop();
    },
  };
}

/** The repository root (with a trailing slash). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs a Node example from examples/ with tsx, as its comment says to; resolves to its stdout. */
export async function runNodeExample(name: string, url: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', `examples/${name}`], {
    cwd: ROOT, env: { ...process.env, LONGBOW_URL: url, LONGBOW_TOKEN: '' }, timeout: 60_000,
  });
  return stdout;
}
