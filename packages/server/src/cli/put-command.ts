/** `longbow put DATASET FILE...`: Arrow IPC, Parquet, CSV, TSV, JSON lines or JSON files into a dataset, with a progress bar. */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { RecordBatch, Schema } from 'apache-arrow';
import {
  COLUMN_TYPE_NAMES, GrpcStatus, LongbowError, type ColumnTypeName, type Longbow, type Metric,
} from '@longbow/client';
import { CONNECTION_OPTIONS, UsageError, parse, positiveInteger, withClient, type CliIo } from './cli-args.ts';
import { ProgressBar } from './progress-bar.ts';
import { INPUT_FORMATS, inputFormatOfPath, readBatches, type InputFormat } from './record-input.ts';

/** Rows per batch read from CSV, JSON and Parquet input. */
export const PUT_BATCH_ROWS_DEFAULT = 10_000;

const METRICS: readonly Metric[] = ['euclidean', 'cosine', 'dot_product'];

const PUT_OPTIONS = {
  ...CONNECTION_OPTIONS,
  format: { type: 'string' },
  'batch-rows': { type: 'string' },
  metric: { type: 'string' },
  type: { type: 'string', short: 't', multiple: true },
  progress: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

interface InputFile {
  path: string;
  format: InputFormat;
  bytes: number | undefined;
}

function typesOf(entries: readonly string[] | undefined): Record<string, ColumnTypeName> {
  const types: Record<string, ColumnTypeName> = {};
  for (const entry of entries ?? []) {
    const match = /^([^=]+)=(.+)$/.exec(entry);
    if (!match || !(COLUMN_TYPE_NAMES as readonly string[]).includes(match[2])) {
      throw new UsageError(`--type takes COLUMN=TYPE with TYPE one of ${COLUMN_TYPE_NAMES.join(', ')}; got "${entry}"`);
    }
    types[match[1]] = match[2] as ColumnTypeName;
  }
  return types;
}

async function inputFiles(paths: readonly string[], format: string | undefined): Promise<InputFile[]> {
  if (format !== undefined && !(INPUT_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`--format must be one of ${INPUT_FORMATS.join(', ')}`);
  }
  return Promise.all(paths.map(async (path) => {
    const byName = path === '-' ? undefined : inputFormatOfPath(path);
    const chosen = (format as InputFormat | undefined) ?? byName;
    if (chosen === undefined) throw new UsageError(`cannot tell the format of "${path}" from its name: pass --format`);
    if (path === '-') return { path, format: chosen, bytes: undefined };
    const info = await stat(path);
    if (info.isDirectory()) throw new UsageError(`${path} is a directory`);
    // Parquet is read by ranges (its index is at the end): a pipe goes through standard input.
    if (chosen === 'parquet' && !info.isFile()) throw new UsageError(`${path} is not a regular file: pipe Parquet to "-" with --format parquet`);
    return { path, format: chosen, bytes: info.isFile() ? info.size : undefined };
  }));
}

async function existingSchema(lb: Longbow, dataset: string): Promise<Schema | undefined> {
  try {
    return await lb.schema(dataset);
  } catch (error) {
    if (error instanceof LongbowError && error.code === GrpcStatus.NOT_FOUND) return undefined;
    throw error;
  }
}

export async function putCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, PUT_OPTIONS);
  if (positionals.length < 2) throw new UsageError('put takes a dataset name and one or more files (- for stdin)');
  const [dataset, ...paths] = positionals;
  const metric = values.metric as Metric | undefined;
  if (metric !== undefined && !METRICS.includes(metric)) throw new UsageError(`--metric must be one of ${METRICS.join(', ')}`);
  const batchRows = positiveInteger(values['batch-rows'], '--batch-rows') ?? PUT_BATCH_ROWS_DEFAULT;
  if (batchRows === 0) throw new UsageError('--batch-rows must be at least 1');
  const types = typesOf(values.type);
  const files = await inputFiles(paths, values.format);
  const bytesTotal = files.every((file) => file.bytes !== undefined) ? files.reduce((sum, file) => sum + file.bytes!, 0) : undefined;
  const showProgress = !values.quiet && (values.progress || io.stderr.isTTY === true);
  const bar = showProgress ? new ProgressBar(io.stderr, `put ${dataset}`) : undefined;

  const summary = await withClient(values, io.env, async (lb) => {
    let schema = await existingSchema(lb, dataset);
    // Input position after each batch, so progress follows acknowledged rows, not rows read ahead.
    const marks: { rows: number; bytes: number }[] = [];
    let rowsRead = 0;
    async function* batches(): AsyncGenerator<RecordBatch> {
      let bytesBefore = 0;
      for (const file of files) {
        const path = file.path === '-' ? undefined : file.path;
        const open = (): Readable => (path === undefined ? io.stdin as Readable : createReadStream(path));
        for await (const { batch, bytesEnd } of readBatches(open, { format: file.format, batchRows, schema, types, metric, name: file.path, path })) {
          schema = batch.schema;
          rowsRead += batch.numRows;
          marks.push({ rows: rowsRead, bytes: bytesBefore + bytesEnd });
          yield batch;
        }
        bytesBefore += file.bytes ?? 0;
      }
    }
    return lb.put(dataset, batches(), {
      metric,
      onProgress: bar && ((progress) => {
        while (marks.length > 1 && marks[1].rows <= progress.rowsAcknowledged) marks.shift();
        const bytesDone = marks.length > 0 && marks[0].rows <= progress.rowsAcknowledged ? marks[0].bytes : 0;
        bar.update({ bytesDone, bytesTotal, rows: progress.rowsAcknowledged });
      }),
    });
  });
  if (bar) {
    bar.update({ bytesDone: bytesTotal ?? 0, bytesTotal, rows: summary.rows });
    bar.finish();
  }
  const seconds = (summary.elapsedMs / 1000).toFixed(2);
  const after = summary.batches > 0 ? `; it has ${summary.datasetRows.toLocaleString('en-US')} rows` : '';
  io.stdout.write(`put ${summary.rows.toLocaleString('en-US')} ${summary.rows === 1 ? 'row' : 'rows'} into ${dataset} `
    + `(${summary.batches} ${summary.batches === 1 ? 'batch' : 'batches'}, ${(summary.bytes / 1e6).toFixed(1)} MB, ${seconds} s)${after}\n`);
  return 0;
}
