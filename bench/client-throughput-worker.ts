/**
 * The TypeScript side of bench/client_throughput.py: a long-lived process (so V8 warms up like
 * a real application) that runs one command per stdin line and answers one JSON line on
 * stdout, timing each call in-process, as the Python side times pyarrow's.
 *
 *   node --import tsx bench/client-throughput-worker.ts grpc://127.0.0.1:PORT
 *
 * Commands: {"op":"load","name":N,"path":P} reads an Arrow IPC file (batches as written);
 * {"op":"put","name":N,"dataset":D[,"batch_bytes_max":B]} -> {"seconds","rows","batches"};
 * {"op":"get","dataset":D} -> {"seconds","rows","batches"};
 * {"op":"getloop","dataset":D,"count":N} -> {"seconds"} for N gets in a row (each result dropped);
 * {"op":"putloop","name":N,"datasets":[D,...]} -> {"seconds"} for one put to each dataset, in a row;
 * {"op":"check","name":N,"dataset":D} -> {"equal": bool}; {"op":"drop","dataset":D};
 * {"op":"info"} -> {"gc_setting","concurrent_marking","memory_pages"} (memory_pages: the
 * client's mallocHugePages(): whether large allocations are on huge pages, and why not).
 *
 * BENCH_TS_CONCURRENT_MARKING (default auto) is passed to the client's
 * configureConcurrentMarking() at startup, as docs/client.md advises for applications that move
 * large data; `v8` leaves V8's default (concurrent marking on) untouched.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tableFromIPC, type Table } from 'apache-arrow';
import { Longbow, configureConcurrentMarking, mallocHugePages, type ConcurrentMarkingSetting } from '@longbow/client';

interface Command {
  op: 'load' | 'put' | 'putloop' | 'get' | 'getloop' | 'check' | 'drop' | 'info';
  name?: string;
  path?: string;
  dataset?: string;
  batch_bytes_max?: number;
  count?: number;
  datasets?: string[];
}

const url = process.argv[2];
if (!url) throw new Error('usage: client-throughput-worker.ts grpc://host:port');
const gcSetting = process.env.BENCH_TS_CONCURRENT_MARKING ?? 'auto';
const concurrentMarking = gcSetting === 'v8' ? null : configureConcurrentMarking(gcSetting as ConcurrentMarkingSetting);
const lb = await Longbow.connect(url);
const tables = new Map<string, Table>();

/** Every value buffer of a column, concatenated in row order (validity ignored: the bench data has no nulls). */
function columnBytes(table: Table, name: string): Buffer {
  const parts: Buffer[] = [];
  for (const batch of table.batches) {
    let data = batch.getChild(name)!.data[0];
    let stride = 1;
    while (data.children.length > 0 && data.values === undefined) {
      stride *= (data.type as { listSize?: number }).listSize ?? 1;
      data = data.children[0].slice(data.offset * stride, data.length * stride);
    }
    const values = data.values as ArrayBufferView;
    parts.push(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
  }
  return Buffer.concat(parts);
}

function sameData(a: Table, b: Table): boolean {
  if (a.numRows !== b.numRows) return false;
  return a.schema.fields.every((field) => columnBytes(a, field.name).equals(columnBytes(b, field.name)));
}

async function handle(command: Command): Promise<Record<string, unknown>> {
  switch (command.op) {
    case 'load': {
      tables.set(command.name!, tableFromIPC(readFileSync(command.path!)));
      return { rows: tables.get(command.name!)!.numRows, batches: tables.get(command.name!)!.batches.length };
    }
    case 'put': {
      const table = tables.get(command.name!)!;
      const started = performance.now();
      const summary = await lb.put(command.dataset!, table, { batchBytesMax: command.batch_bytes_max });
      return { seconds: (performance.now() - started) / 1000, rows: summary.rows, batches: summary.batches };
    }
    case 'putloop': {
      const table = tables.get(command.name!)!;
      const started = performance.now();
      for (const dataset of command.datasets!) await lb.put(dataset, table);
      return { seconds: (performance.now() - started) / 1000 };
    }
    case 'get': {
      const started = performance.now();
      const table = await lb.get(command.dataset!);
      return { seconds: (performance.now() - started) / 1000, rows: table.numRows, batches: table.batches.length };
    }
    case 'getloop': {
      const started = performance.now();
      let rows = 0;
      for (let i = 0; i < command.count!; i++) rows = (await lb.get(command.dataset!)).numRows;
      return { seconds: (performance.now() - started) / 1000, rows };
    }
    case 'check': return { equal: sameData(tables.get(command.name!)!, await lb.get(command.dataset!)) };
    case 'drop': return { ...(await lb.drop(command.dataset!)) };
    case 'info': {
      const pages = mallocHugePages();
      return { gc_setting: gcSetting, concurrent_marking: concurrentMarking, memory_pages: { ...pages, tunable: pages.tunable ?? null, glibc: pages.glibc ?? null } };
    }
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  let reply: Record<string, unknown>;
  try {
    reply = await handle(JSON.parse(line) as Command);
  } catch (error) {
    reply = { error: error instanceof Error ? error.message : String(error) };
  }
  process.stdout.write(`${JSON.stringify(reply)}\n`);
}
lb.close();
