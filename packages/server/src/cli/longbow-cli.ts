/**
 * The `longbow` command: `serve` runs the server; the other commands talk to a running one.
 * Exit codes: 0 success, 1 the server refused or the input was bad, 2 a wrong command line.
 */
import { LongbowError } from '@longbow/client';
import { dropCommand, infoCommand, lsCommand, snapshotCommand, statsCommand } from './admin-commands.ts';
import { CONNECTION_HELP, UsageError, connectionOf, type CliIo } from './cli-args.ts';
import { putCommand } from './put-command.ts';
import { getCommand, searchCommand, TABLE_ROWS_DEFAULT } from './read-commands.ts';
import { serveCommand } from './serve-command.ts';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

type Command = (args: readonly string[], io: CliIo) => Promise<number | undefined>;

const COMMANDS: Record<string, { run: Command; usage: string }> = {
  serve: { run: serveCommand, usage: 'serve [--listen ADDR] [--data DIR] ...   run the server (same as npm start)' },
  ls: { run: lsCommand, usage: 'ls [--json]                               list datasets' },
  info: { run: infoCommand, usage: 'info DATASET [--json]                     rows, size, vector column, metric, columns' },
  stats: { run: statsCommand, usage: 'stats [--json]                            server memory, datasets, rows' },
  snapshot: { run: snapshotCommand, usage: 'snapshot [--json]                         write a snapshot now' },
  drop: { run: dropCommand, usage: 'drop DATASET                              drop a dataset' },
  get: { run: getCommand, usage: 'get DATASET [-f FILTER]... [-c COLS] [-n LIMIT] [--format F] [-o FILE]' },
  search: { run: searchCommand, usage: 'search DATASET VECTOR|--id ID [-k N] [-f FILTER]... [-c COLS] [--ef N] [--exact] [--format F] [-o FILE]' },
  put: { run: putCommand, usage: 'put DATASET FILE... [--format F] [--metric M] [-t COL=TYPE]... [--batch-rows N] [--progress]' },
};

export const HELP = `usage: longbow COMMAND [options]

commands:
${Object.values(COMMANDS).map((command) => `  ${command.usage}`).join('\n')}

options of the client commands:
${CONNECTION_HELP}
  -h, --help         this help

get and search:
  -f, --filter EXPR  e.g. -f 'price>=10' -f 'label=books' -f 'name contains foo' (all must hold)
  -c, --columns A,B  columns to return
  -n, --limit N      at most N rows (get; a terminal table shows ${TABLE_ROWS_DEFAULT} unless given)
  --format F         table (default), csv, jsonl, arrow (Arrow IPC) or parquet; default from -o's extension
  -o, --output FILE  write to FILE (.arrow: IPC file format, .arrows: IPC stream, .csv, .jsonl, .parquet/.pq)
  search: VECTOR is [0.1,0.2,...] or 0.1,0.2,...; --vector-file FILE reads it from a JSON file;
          --id ID searches the neighbours of that row; -k N, --ef N, --exact, --include-vectors

put:
  FILE               .arrow/.arrows/.ipc/.feather (Arrow IPC), .parquet/.pq, .csv, .tsv, .jsonl/.ndjson, .json; - is stdin
  --format F         arrow, parquet, csv, tsv, jsonl or json, when the name does not tell
  --metric M         euclidean, cosine or dot_product, for a new dataset
  -t, --type C=T     type of column C in a new dataset: int64, int32, float64, float32, utf8, bool,
                     timestamp, vector (else inferred from the first batch; an existing dataset's schema wins)
  --batch-rows N     rows per batch read from CSV/JSON/Parquet (default 10000)
  --progress         progress bar even when stderr is not a terminal; -q, --quiet: none

See docs/cli.md.
`;

function describe(error: unknown, io: CliIo, args: readonly string[]): string {
  if (error instanceof LongbowError) {
    const code = error.errorCode ? `, ${error.errorCode}` : '';
    let hint = '';
    if (error.status === 'UNAVAILABLE') {
      const { url } = connectionOf({ url: optionValue(args, '--url', '-u') }, io.env);
      hint = `\n  is a server running at ${url}? (longbow serve starts one; --url or LONGBOW_URL points elsewhere)`;
    } else if (error.status === 'UNAUTHENTICATED') hint = '\n  pass --token or set LONGBOW_TOKEN';
    return `longbow: ${error.message} (${error.status}${code})${hint}`;
  }
  if (error instanceof Error) return `longbow: ${error.message}`;
  return `longbow: ${String(error)}`;
}

function optionValue(args: readonly string[], long: string, short: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if ((args[i] === long || args[i] === short) && i + 1 < args.length) return args[i + 1];
    if (args[i].startsWith(`${long}=`)) return args[i].slice(long.length + 1);
  }
  return undefined;
}

/** Runs one command line; resolves to the exit code, or undefined when the server now runs in this process. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number | undefined> {
  const [name, ...args] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    io.stdout.write(HELP);
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    io.stderr.write(`longbow: unknown command "${name}"\n\n${HELP}`);
    return EXIT_USAGE;
  }
  if (name !== 'serve' && (args.includes('--help') || args.includes('-h'))) {
    io.stdout.write(`usage: longbow ${command.usage}\n\n${HELP}`);
    return EXIT_OK;
  }
  try {
    return await command.run(args, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`longbow ${name}: ${error.message}\nusage: longbow ${command.usage}\n`);
      return EXIT_USAGE;
    }
    io.stderr.write(`${describe(error, io, args)}\n`);
    if (io.env.LONGBOW_DEBUG && error instanceof Error) io.stderr.write(`${error.stack}\n`);
    return EXIT_FAILED;
  }
}
