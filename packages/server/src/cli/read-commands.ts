/** `longbow get` and `longbow search`: results to the terminal, CSV, JSON lines, Arrow IPC or Parquet. */
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import type { RecordBatch, Schema, Table } from 'apache-arrow';
import { parseFilterExpression, type Filter } from '@longbow/client';
import {
  CONNECTION_OPTIONS, UsageError, commaList, oneDataset, parse, positiveInteger, withClient, type CliIo,
} from './cli-args.ts';
import { OUTPUT_FORMATS, outputFormatOfPath, writeResults, type OutputFormat, type Results } from './output-writer.ts';

/** Rows a terminal table shows when no --limit is given. */
export const TABLE_ROWS_DEFAULT = 20;

const OUTPUT_OPTIONS = {
  ...CONNECTION_OPTIONS,
  filter: { type: 'string', short: 'f', multiple: true },
  columns: { type: 'string', short: 'c' },
  format: { type: 'string' },
  output: { type: 'string', short: 'o' },
} as const;

const GET_OPTIONS = { ...OUTPUT_OPTIONS, limit: { type: 'string', short: 'n' } } as const;

const SEARCH_OPTIONS = {
  ...OUTPUT_OPTIONS,
  k: { type: 'string', short: 'k' },
  ef: { type: 'string' },
  exact: { type: 'boolean' },
  'vector-file': { type: 'string' },
  id: { type: 'string' },
  'include-vectors': { type: 'boolean' },
} as const;

function filtersOf(expressions: readonly string[] | undefined): Filter[] | undefined {
  if (expressions === undefined) return undefined;
  try {
    return expressions.map(parseFilterExpression);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

interface Destination {
  format: OutputFormat;
  /** The file to write, or undefined for stdout; opened only once there is something to write. */
  path: string | undefined;
  arrowFile: boolean;
}

function destinationOf(values: { format?: string; output?: string }, io: CliIo): Destination {
  const { output } = values;
  let format: OutputFormat;
  if (values.format !== undefined) {
    if (!(OUTPUT_FORMATS as readonly string[]).includes(values.format)) {
      throw new UsageError(`--format must be one of ${OUTPUT_FORMATS.join(', ')}`);
    }
    format = values.format as OutputFormat;
  } else if (output !== undefined && output !== '-') {
    const byName = outputFormatOfPath(output);
    if (byName === undefined) throw new UsageError(`cannot tell the format of "${output}" from its name: pass --format`);
    format = byName;
  } else format = 'table';
  const path = output !== undefined && output !== '-' ? output : undefined;
  return { format, path, arrowFile: path !== undefined && /\.(arrow|feather|ipc)$/i.test(path) };
}

async function emit(results: Results, destination: Destination, io: CliIo, tableRowsMax?: number): Promise<void> {
  const out: Writable = destination.path === undefined ? io.stdout : createWriteStream(destination.path);
  const { rows, more } = await writeResults(results, out, {
    format: destination.format, arrowFile: destination.arrowFile, tableRowsMax,
  });
  if (destination.path !== undefined) {
    out.end();
    await finished(out);
    io.stderr.write(`wrote ${rows.toLocaleString('en-US')} rows\n`);
  } else if (destination.format === 'table') {
    io.stdout.write(more ? `(first ${rows} rows; --limit N shows more, --format csv|jsonl|arrow|parquet writes all)\n` : `(${rows} rows)\n`);
  }
}

export async function getCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, GET_OPTIONS);
  const dataset = oneDataset(positionals, 'get');
  const limit = positiveInteger(values.limit, '--limit');
  const filters = filtersOf(values.filter);
  const columns = commaList(values.columns);
  const destination = destinationOf(values, io);
  const tableRowsMax = destination.format === 'table' && limit === undefined ? TABLE_ROWS_DEFAULT : undefined;
  await withClient(values, io.env, async (lb) => {
    // A table without --limit asks for one row more than it shows, to tell whether there are more.
    const result = lb.get(dataset, { filters, columns, limit: tableRowsMax === undefined ? limit : tableRowsMax + 1 });
    await emit({ batches: result, schema: () => result.schema }, destination, io, tableRowsMax);
  });
  return 0;
}

function parseVector(text: string, source: string): number[] {
  const trimmed = text.trim();
  let value: unknown;
  try {
    value = JSON.parse(trimmed.startsWith('[') ? trimmed : `[${trimmed}]`);
  } catch {
    throw new UsageError(`${source} is not a vector: give numbers as [0.1, 0.2, ...] or 0.1,0.2,...`);
  }
  if (!Array.isArray(value) || value.length === 0 || !value.every((item) => typeof item === 'number')) {
    throw new UsageError(`${source} is not a vector: give numbers as [0.1, 0.2, ...] or 0.1,0.2,...`);
  }
  return value as number[];
}

function tableResults(table: Table): Results {
  async function* batches(): AsyncGenerator<RecordBatch> {
    yield* table.batches;
  }
  return { batches: batches(), schema: (): Schema => table.schema };
}

export async function searchCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, SEARCH_OPTIONS);
  const vectorFile = values['vector-file'];
  const byId = values.id;
  if (positionals.length !== (vectorFile === undefined && byId === undefined ? 2 : 1)) {
    throw new UsageError('search takes a dataset name and a query vector (or --vector-file FILE, or --id ID)');
  }
  const dataset = positionals[0];
  const vector = byId !== undefined ? undefined : vectorFile === undefined ? parseVector(positionals[1], 'the query')
    : parseVector(await readFile(vectorFile, 'utf8'), vectorFile);
  const destination = destinationOf(values, io);
  const options = {
    k: positiveInteger(values.k, '-k'), ef: positiveInteger(values.ef, '--ef'), exact: values.exact,
    filters: filtersOf(values.filter), columns: commaList(values.columns), includeVectors: values['include-vectors'],
  };
  const table = await withClient(values, io.env, (lb) => (vector === undefined
    ? lb.searchById(dataset, /^-?\d+$/.test(byId!) ? BigInt(byId!) : byId!, options)
    : lb.search(dataset, vector, options)));
  await emit(tableResults(table), destination, io);
  return 0;
}
