/** `longbow ls | info | stats | snapshot | drop`: datasets and server state. */
import type { DatasetInfo } from '@longbow/client';
import { CONNECTION_OPTIONS, oneDataset, parse, withClient, type CliIo } from './cli-args.ts';
import { jsonText, type JsonValue } from './cell-format.ts';

const JSON_OPTIONS = { ...CONNECTION_OPTIONS, json: { type: 'boolean' } } as const;

function bytesText(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function vectorText(info: DatasetInfo): string {
  return info.vector ? `${info.vector.column} ${info.vector.type}[${info.vector.dimensions}]` : '-';
}

function infoJson(info: DatasetInfo): JsonValue {
  return {
    name: info.name, rows: info.rows, bytes: info.bytes, metric: info.metric,
    vector: info.vector ? { column: info.vector.column, dimensions: info.vector.dimensions, type: String(info.vector.type) } : null,
    columns: info.schema.fields.map((field) => ({ name: field.name, type: String(field.type), nullable: field.nullable })),
  };
}

function alignedRows(rows: readonly string[][], rightAligned: readonly boolean[]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => row.map((cell, column) => (rightAligned[column] ? cell.padStart(widths[column]) : cell.padEnd(widths[column])))
    .join('  ').trimEnd()).join('\n') + '\n';
}

export async function lsCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parse(args, JSON_OPTIONS);
  const datasets = await withClient(values, io.env, (lb) => lb.list());
  if (values.json) {
    io.stdout.write(`${jsonText(datasets.map(infoJson))}\n`);
    return 0;
  }
  if (datasets.length === 0) {
    io.stdout.write('no datasets\n');
    return 0;
  }
  const rows = [['name', 'rows', 'size', 'vector', 'metric'],
    ...datasets.map((info) => [info.name, info.rows.toLocaleString('en-US'), bytesText(info.bytes), vectorText(info), info.metric])];
  io.stdout.write(alignedRows(rows, [false, true, true, false, false]));
  return 0;
}

export async function infoCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, JSON_OPTIONS);
  const dataset = oneDataset(positionals, 'info');
  const info = await withClient(values, io.env, (lb) => lb.info(dataset));
  if (values.json) {
    io.stdout.write(`${jsonText(infoJson(info))}\n`);
    return 0;
  }
  const lines = [
    `dataset  ${info.name}`,
    `rows     ${info.rows.toLocaleString('en-US')}`,
    `size     ${bytesText(info.bytes)}`,
    `vector   ${vectorText(info)}`,
    `metric   ${info.metric}`,
    'columns',
    alignedRows(info.schema.fields.map((field) => [`  ${field.name}`, String(field.type), field.nullable ? '' : 'not null']),
      [false, false, false]).trimEnd(),
  ];
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

export async function statsCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parse(args, JSON_OPTIONS);
  const stats = await withClient(values, io.env, (lb) => lb.stats());
  if (values.json) {
    io.stdout.write(`${jsonText(stats as JsonValue)}\n`);
    return 0;
  }
  const limit = stats.max_memory === 0 ? 'unlimited' : bytesText(stats.max_memory);
  const lines = [
    `memory    ${bytesText(stats.current_memory)} of ${limit}`,
    `datasets  ${stats.datasets}`,
  ];
  if (stats.total_rows !== undefined) lines.push(`rows      ${stats.total_rows.toLocaleString('en-US')}`);
  if (stats.uptime_seconds !== undefined) lines.push(`uptime    ${stats.uptime_seconds} s`);
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

export async function snapshotCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parse(args, JSON_OPTIONS);
  const reply = await withClient(values, io.env, (lb) => lb.snapshot());
  if (values.json) io.stdout.write(`${jsonText(reply as JsonValue)}\n`);
  else {
    const details = [reply.id !== undefined ? `id ${reply.id}` : '', reply.rows !== undefined ? `${reply.rows} rows` : '',
      reply.bytes !== undefined ? bytesText(reply.bytes) : '', reply.duration_ms !== undefined ? `${reply.duration_ms} ms` : '']
      .filter((part) => part !== '');
    io.stdout.write(`${reply.message}${details.length > 0 ? ` (${details.join(', ')})` : ''}\n`);
  }
  return 0;
}

export async function dropCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, CONNECTION_OPTIONS);
  const dataset = oneDataset(positionals, 'drop');
  await withClient(values, io.env, (lb) => lb.drop(dataset));
  io.stdout.write(`dropped ${dataset}\n`);
  return 0;
}
