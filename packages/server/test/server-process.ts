/**
 * A Longbow server as a real child process (`node --import tsx src/main.ts`), for tests that
 * send it signals: its log lines are collected and can be awaited.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { FlightClient } from '@longbow/flight';

const SERVER_MAIN = new URL('../src/main.ts', import.meta.url).pathname;
/** tsx by URL, so the server can run in any working directory. */
export const TSX_LOADER = import.meta.resolve('tsx');

/** `node --import tsx src/main.ts` as argv, usable from any working directory. */
export const SERVER_ARGS = ['--import', TSX_LOADER, SERVER_MAIN];

export interface ServerProcess {
  child: ChildProcess;
  dataAddr: string;
  /** The metrics HTTP endpoint, `host:port`. */
  metricsAddr: string;
  client: FlightClient;
  /** Resolves with the exit code or signal, whenever the process ends. */
  exited: Promise<number | string | null>;
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  /** The JSON log lines printed so far. */
  logLines(): Record<string, unknown>[];
  /** Waits until a log line matches (default timeout 15 s); returns it. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<number | string | null>;
}

function parseLines(text: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch { /* a partial line */ }
  }
  return lines;
}

/** Starts the server in `cwd` with `env` over the test process's environment; resolves once it listens. */
export async function startServerProcess(env: Record<string, string>, cwd?: string): Promise<ServerProcess> {
  const child = spawn(process.execPath, SERVER_ARGS, {
    cwd,
    env: {
      ...process.env, LONGBOW_LISTEN_ADDR: '127.0.0.1:0', LONGBOW_META_ADDR: '127.0.0.1:0', LONGBOW_METRICS_ADDR: '127.0.0.1:0',
      LONGBOW_LOG_LEVEL: 'info', ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  // Never leave a server behind, even when the test runner itself is stopped.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  void exited.then(() => process.off('exit', reap));
  let output = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); for (const wake of waiters) wake(); });
  child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });

  const waitForLog = (match: (line: Record<string, unknown>) => boolean, timeoutMs = 15_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const found = parseLines(output).find(match);
        if (found) { finish(); resolve(found); }
      };
      const timer = setTimeout(() => { finish(); reject(new Error(`log line not seen within ${timeoutMs} ms:\n${output}`)); }, timeoutMs);
      const onExit = (code: number | string | null) => { finish(); reject(new Error(`server exited with ${code}:\n${output}`)); };
      const finish = () => { clearTimeout(timer); waiters.delete(check); };
      waiters.add(check);
      void exited.then(onExit);
      check();
    });

  const listening = await waitForLog((line) => line.msg === 'Longbow listening', 30_000);
  const dataAddr = String(listening.data_addr);
  const metricsAddr = String(listening.metrics_addr);
  const client = new FlightClient(`grpc://${dataAddr}`, { token: env.LONGBOW_AUTH_TOKEN });
  return {
    child, dataAddr, metricsAddr, client, exited, waitForLog,
    output: () => output,
    logLines: () => parseLines(output),
    async stop() {
      client.close();
      child.kill('SIGTERM');
      return exited;
    },
  };
}
