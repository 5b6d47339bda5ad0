/**
 * `longbow serve`: the server, exactly as `npm start` runs it (src/main.ts, which reads the
 * environment and `.env`, handles signals and sets the exit code). Flags are shorthands that
 * set the matching LONGBOW_* variables first.
 */
import { UsageError, parse, type CliIo } from './cli-args.ts';

const SERVE_OPTIONS = {
  listen: { type: 'string' },
  meta: { type: 'string' },
  metrics: { type: 'string' },
  data: { type: 'string' },
  'max-memory': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const VARIABLES: Record<string, string> = {
  listen: 'LONGBOW_LISTEN_ADDR',
  meta: 'LONGBOW_META_ADDR',
  metrics: 'LONGBOW_METRICS_ADDR',
  data: 'LONGBOW_DATA_PATH',
  'max-memory': 'LONGBOW_MAX_MEMORY',
};

export const SERVE_HELP = `usage: longbow serve [--listen ADDR] [--meta ADDR] [--metrics ADDR] [--data DIR] [--max-memory SIZE]

Runs the server (the same as npm start). Every setting comes from LONGBOW_* environment
variables and .env (see README.md, Configuration); the flags set these variables:
  --listen ADDR      LONGBOW_LISTEN_ADDR   data port (default 0.0.0.0:3000)
  --meta ADDR        LONGBOW_META_ADDR     meta port (default 0.0.0.0:3001)
  --metrics ADDR     LONGBOW_METRICS_ADDR  metrics endpoint
  --data DIR         LONGBOW_DATA_PATH     data directory (default ./data)
  --max-memory SIZE  LONGBOW_MAX_MEMORY    memory limit (e.g. 4GiB; 0 = unlimited)
`;

/** Starts the server in this process; returns only if the command line is wrong or help was asked for. */
export async function serveCommand(args: readonly string[], io: CliIo): Promise<number | undefined> {
  const { values, positionals } = parse(args, SERVE_OPTIONS);
  if (values.help) {
    io.stdout.write(SERVE_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`serve takes no arguments, got "${positionals[0]}"`);
  for (const [flag, variable] of Object.entries(VARIABLES)) {
    const value = values[flag as keyof typeof values];
    if (typeof value === 'string') io.env[variable] = value;
  }
  await import('../main.ts');
  return undefined;
}
