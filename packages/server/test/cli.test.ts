/**
 * The `longbow` command as a child process: `serve` starts a server on free ports, the client
 * commands run against it (put of CSV, JSON lines and Arrow IPC; get in every format; ls,
 * info, stats, snapshot, drop), and SIGTERM stops it with exit code 0. The CSV parser and the
 * cell formats are checked in-process.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Field, Float32, Int64, LargeList, List, tableFromIPC, tableToIPC, vectorFromArray, Table, type RecordBatch, type Vector } from 'apache-arrow';
import { CsvParser, parseCsv, csvLine } from '../src/cli/csv.ts';
import { runCli } from '../src/cli/longbow-cli.ts';
import { VectorShape } from '../src/cli/parquet.ts';
import { writeResults } from '../src/cli/output-writer.ts';
import { displayText, csvText } from '../src/cli/cell-format.ts';
import { makeBatch } from './helpers.ts';
import { Compression, Table as WasmTable, WriterPropertiesBuilder, readParquet, writeParquet } from 'parquet-wasm';

const BIN = fileURLToPath(new URL('../bin/longbow.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

const directory = mkdtempSync(join(tmpdir(), 'longbow-cli-'));
/** The environment without any LONGBOW_* setting of the machine running the tests. */
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('LONGBOW_')));
let server: ChildProcess;
let url = '';

function run(args: string[], stdin?: Buffer): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: directory, env: { ...cleanEnv, LONGBOW_URL: url },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout.push(chunk); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      const stdoutBytes = Buffer.concat(stdout);
      resolve({ code, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr });
    });
    child.stdin.end(stdin);
  });
}

function file(name: string, content: string | Uint8Array): string {
  const path = join(directory, name);
  writeFileSync(path, content);
  return path;
}

before(async () => {
  server = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', '--meta', '127.0.0.1:0', '--data', join(directory, 'data')], {
    cwd: directory, env: { ...cleanEnv, LONGBOW_METRICS_ADDR: '127.0.0.1:0', LONGBOW_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  url = await new Promise<string>((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 30_000);
    server.stdout!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      const match = /"data_addr":"([^"]+)".*"msg":"Longbow listening"/.exec(log);
      if (match) {
        clearTimeout(timer);
        resolve(`grpc://${match[1]}`);
      }
    });
    server.stderr!.on('data', (chunk: Buffer) => { log += chunk.toString(); });
    server.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${log}`));
    });
  });
});

after(() => {
  if (server.exitCode === null) server.kill('SIGKILL');
  rmSync(directory, { recursive: true, force: true });
});

/** The same command line run in this process (fast: no new Node and module loading per command). */
async function runHere(args: string[]): Promise<Run> {
  const stdout: Buffer[] = [];
  let stderr = '';
  const sink = (write: (chunk: Buffer) => void) => new Writable({
    write(chunk: Buffer, _encoding, callback) {
      write(Buffer.from(chunk));
      callback();
    },
  });
  const code = await runCli(args, {
    stdout: sink((chunk) => stdout.push(chunk)), stderr: sink((chunk) => { stderr += chunk.toString(); }),
    stdin: Readable.from([]), env: { ...cleanEnv, LONGBOW_URL: url },
  });
  const stdoutBytes = Buffer.concat(stdout);
  return { code: code ?? null, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr };
}

describe('`longbow` as a child process, against `longbow serve`', () => {
  test('put CSV (quoted fields, vectors, progress bar), get it as a table and as Arrow IPC on stdout', async () => {
    const csv = file('docs.csv', 'id,vector,label,price\n1,"[1,2,3]",hello,1.5\n2,"[4,5,6]","with, comma",2\n3,"[7,8,9]",,3.25\n');
    const put = await run(['put', 'docs', csv, '--metric', 'cosine', '--progress']);
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stdout, /^put 3 rows into docs \(1 batch, .*it has 3 rows/);
    assert.match(put.stderr, /put docs +\[#+\] +100% .* 3 rows/);

    const [table, arrow] = await Promise.all([run(['get', 'docs']), run(['get', 'docs', '--format', 'arrow', '-n', '2'])]);
    assert.equal(table.code, 0, table.stderr);
    assert.deepEqual(table.stdout.split('\n'), [
      'id  vector     label        price',
      '--  ---------  -----------  -----',
      ' 1  [1, 2, 3]  hello          1.5',
      ' 2  [4, 5, 6]  with, comma      2',
      ' 3  [7, 8, 9]                3.25',
      '(3 rows)',
      '',
    ]);
    assert.equal(arrow.code, 0, arrow.stderr);
    assert.deepEqual(Array.from(tableFromIPC(arrow.stdoutBytes).getChild('id')!.toArray() as BigInt64Array, Number), [1, 2]);
  });

  test('put Arrow IPC from stdin; exit codes 1 (refused) and 2 (wrong command line)', async () => {
    const stream = Buffer.from(tableToIPC(new Table([makeBatch(10, 8, 0)]), 'stream'));
    const [fromStdin, missing, usage] = await Promise.all([
      run(['put', 'from-stdin', '-', '--format', 'arrow'], stream),
      run(['get', 'no-such-dataset']),
      run(['get']),
    ]);
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.match(fromStdin.stdout, /^put 10 rows into from-stdin/);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^longbow: dataset not found: no-such-dataset \(NOT_FOUND, DATASET_NOT_FOUND\)/);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /get takes one dataset name/);
  });
});

describe('client commands (in this process) against `longbow serve`', () => {
  test('put JSON lines with a --type, then a JSON array typed to the dataset; ls and info', async () => {
    const first = file('a.jsonl', '{"id": 1, "embedding": [0.5, 1], "price": 2}\n{"id": 2, "embedding": [1, 2], "price": 3, "tag": "x"}\n');
    const second = file('b.json', '[{"id": 3, "embedding": [2, 3], "price": 4.5}]');
    assert.equal((await runHere(['put', 'items', first, '-t', 'price=float64'])).code, 0);
    const more = await runHere(['put', 'items', second]);
    assert.equal(more.code, 0, more.stderr);
    assert.match(more.stdout, /it has 3 rows/);

    const ls = await runHere(['ls', '--json']);
    assert.ok((JSON.parse(ls.stdout) as { name: string }[]).some((dataset) => dataset.name === 'items'));
    const info = JSON.parse((await runHere(['info', 'items', '--json'])).stdout) as {
      rows: number; vector: { column: string; dimensions: number }; columns: { name: string; type: string }[];
    };
    assert.equal(info.rows, 3);
    assert.deepEqual(info.vector, { column: 'embedding', dimensions: 2, type: 'Float32' });
    assert.deepEqual(info.columns.map((column) => `${column.name}:${column.type}`),
      ['id:Int64', 'embedding:FixedSizeList[2]<Float32>', 'price:Float64', 'tag:Utf8']);
    assert.match((await runHere(['ls'])).stdout, /^name +rows +size +vector +metric\n(.*\n)*items +3 +\d+ B +embedding Float32\[2\] +euclidean\n/);
  });

  test('get as CSV and JSON lines, with filters, columns and limit', async () => {
    await runHere(['put', 'docs2', file('docs2.csv', 'id,label,price\n1,hello,1.5\n2,"with, comma",2\n3,,3.25\n')]);
    const csv = await runHere(['get', 'docs2', '--format', 'csv', '-f', 'price>=2', '-c', 'id,label']);
    assert.equal(csv.stdout, 'id,label\n2,"with, comma"\n3,\n');
    const jsonl = await runHere(['get', 'docs2', '--format', 'jsonl', '-n', '1']);
    assert.deepEqual(JSON.parse(jsonl.stdout), { id: 1, label: 'hello', price: 1.5 });
  });

  test('put an Arrow file; get -o writes an Arrow file; a table shows 20 rows unless --limit is given', async () => {
    const put = await runHere(['put', 'arrows', file('in.arrow', tableToIPC(new Table([makeBatch(1000, 8)]), 'file'))]);
    assert.equal(put.code, 0, put.stderr);
    const out = join(directory, 'out.arrow');
    const get = await runHere(['get', 'arrows', '-o', out, '-f', 'id>=995', '-f', 'id<1005']);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stderr, /wrote 5 rows/);
    assert.deepEqual(Array.from(tableFromIPC(readFileSync(out)).getChild('id')!.toArray() as BigInt64Array, Number), [995, 996, 997, 998, 999]);
    const page = await runHere(['get', 'arrows', '-c', 'id']);
    assert.equal(page.stdout.trimEnd().split('\n').length, 2 + 20 + 1);
    assert.match(page.stdout, /\(first 20 rows; --limit N shows more/);
    assert.equal((await runHere(['get', 'arrows', '-c', 'id', '-n', '30'])).stdout.trimEnd().split('\n').length, 2 + 30 + 1);
  });

  test('put Parquet: a zstd file of three row groups, with vectors and strings; stdin too', async () => {
    const rows = 1000;
    const source = new Table([makeBatch(rows, 8)]);
    const labels = vectorFromArray(Array.from({ length: rows }, (_, i) => (i % 7 === 0 ? null : `row ${i}`)));
    const withLabels = source.assign(new Table({ label: labels }));
    const properties = new WriterPropertiesBuilder().setCompression(Compression.ZSTD).setMaxRowGroupSize(300).build();
    const bytes = writeParquet(WasmTable.fromIPCStream(tableToIPC(withLabels, 'stream')), properties);
    const path = file('in.parquet', bytes);

    const put = await runHere(['put', 'parquet-in', path, '--batch-rows', '128']);
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stdout, /^put 1,000 rows into parquet-in \(10 batches/);
    const back = tableFromIPC((await runHere(['get', 'parquet-in', '--format', 'arrow'])).stdoutBytes);
    assert.equal(back.numRows, rows);
    assert.deepEqual(back.schema.fields.map((field) => `${field.name}:${field.type}`), withLabels.schema.fields.map((field) => `${field.name}:${field.type}`));
    assert.ok(back.batches.every((batch) => batch.numRows <= 128), 'batches of --batch-rows at most');
    for (const row of [0, 1, 299, 300, 999]) {
      assert.deepEqual(back.get(row)!.toJSON().id, withLabels.get(row)!.toJSON().id);
      assert.deepEqual([...back.getChild('vector')!.get(row)!], [...withLabels.getChild('vector')!.get(row)!]);
      assert.equal(back.getChild('label')!.get(row), withLabels.getChild('label')!.get(row));
    }

    const piped = await run(['put', 'parquet-stdin', '-', '--format', 'parquet'], Buffer.from(bytes));
    assert.equal(piped.code, 0, piped.stderr);
    assert.match(piped.stdout, /^put 1,000 rows into parquet-stdin/);

    // And out again: get -o *.parquet, --format parquet on stdout, and a result without rows.
    const out = join(directory, 'out.parquet');
    const get = await runHere(['get', 'parquet-in', '-o', out, '-f', 'id>=100']);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stderr, /wrote 900 rows/);
    const written = tableFromIPC(readParquet(readFileSync(out)).intoIPCStream());
    assert.equal(written.numRows, 900);
    assert.deepEqual(written.schema.fields.map((field) => `${field.name}:${field.type}`), withLabels.schema.fields.map((field) => `${field.name}:${field.type}`));
    assert.deepEqual([...written.getChild('vector')!.get(899)!], [...withLabels.getChild('vector')!.get(999)!]);
    assert.equal(written.getChild('label')!.get(899), withLabels.getChild('label')!.get(999));
    const stdout = await runHere(['get', 'parquet-in', '--format', 'parquet', '-c', 'id', '-n', '3']);
    assert.deepEqual(Array.from(tableFromIPC(readParquet(stdout.stdoutBytes).intoIPCStream()).getChild('id')!.toArray() as BigInt64Array, Number), [0, 1, 2]);
    const none = await runHere(['get', 'parquet-in', '--format', 'parquet', '-f', 'id<0']);
    const noRows = tableFromIPC(readParquet(none.stdoutBytes).intoIPCStream());
    assert.equal(noRows.numRows, 0);
    assert.deepEqual(noRows.schema.fields.map((field) => field.name), ['id', 'vector', 'label']);
  });

  test('put Parquet: an embedding stored as a plain list becomes a vector; lists of differing lengths are refused', async () => {
    const listType = new List(new Field('item', new Float32(), true));
    const parquetOf = (embeddings: number[][]) => writeParquet(WasmTable.fromIPCStream(tableToIPC(new Table({
      id: vectorFromArray(embeddings.map((_, i) => BigInt(i)), new Int64()),
      embedding: vectorFromArray(embeddings, listType),
    }), 'stream')));
    const good = await runHere(['put', 'lists', file('lists.parquet', parquetOf([[1, 2, 3], [4, 5, 6], [7, 8, 9]]))]);
    assert.equal(good.code, 0, good.stderr);
    const info = JSON.parse((await runHere(['info', 'lists', '--json'])).stdout) as { vector: { column: string; dimensions: number } };
    assert.deepEqual(info.vector, { column: 'embedding', dimensions: 3, type: 'Float32' });
    const back = tableFromIPC((await runHere(['get', 'lists', '--format', 'arrow'])).stdoutBytes);
    assert.deepEqual([...back.getChild('embedding')!.get(2)!], [7, 8, 9]);

    // One length across batches (here one row each), not only within one.
    const ragged = await runHere(['put', 'ragged', file('ragged.parquet', parquetOf([[1, 2], [3, 4], [5, 6, 7]])), '--batch-rows', '1']);
    assert.equal(ragged.code, 1);
    assert.match(ragged.stderr, /ragged\.parquet: column "embedding", row 3: 3 values where the vectors have 2; a vector column needs one length/);
    // A first batch of null vectors waits for the dimension instead of going as a list.
    const nullFirst = await runHere(['put', 'null-first', file('null-first.parquet', parquetOf([null, [1, 2], [3, 4]] as number[][])), '--batch-rows', '1']);
    assert.equal(nullFirst.code, 0, nullFirst.stderr);
    const nullBack = tableFromIPC((await runHere(['get', 'null-first', '--format', 'arrow'])).stdoutBytes);
    assert.deepEqual([0, 1, 2].map((row) => nullBack.getChild('embedding')!.isValid(row)), [false, true, true]);
    // Into an existing dataset, its dimension.
    const other = await runHere(['put', 'lists', file('lists2.parquet', parquetOf([[1, 2]]))]);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /lists2\.parquet: column "embedding", row 1: 2 values where the vectors have 3/);
  });

  test('Parquet round trip keeps the metric; errors while writing Parquet fail the command; a corrupt file exits 1', async () => {
    assert.equal((await runHere(['put', 'cosine-src', file('cos.jsonl', '{"id": 1, "vector": [1, 0]}\n{"id": 2, "vector": [0, 1]}\n'), '--metric', 'cosine'])).code, 0);
    const path = join(directory, 'cos.parquet');
    assert.equal((await runHere(['get', 'cosine-src', '-o', path])).code, 0);
    const copy = await runHere(['put', 'cosine-copy', path]);
    assert.equal(copy.code, 0, copy.stderr);
    assert.equal((JSON.parse((await runHere(['info', 'cosine-copy', '--json'])).stdout) as { metric: string }).metric, 'cosine');

    const missing = await runHere(['get', 'no-such-dataset', '--format', 'parquet']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /dataset not found: no-such-dataset \(NOT_FOUND, DATASET_NOT_FOUND\)/);

    // A file without rows creates the dataset with its schema, nested columns included.
    const empty = new Table({ id: vectorFromArray([] as bigint[], new Int64()), tags: vectorFromArray([], new List(new Field('item', new Float32(), true))) });
    const emptyPut = await runHere(['put', 'empty-pq', file('empty.parquet', writeParquet(WasmTable.fromIPCStream(tableToIPC(empty, 'stream'))))]);
    assert.equal(emptyPut.code, 0, emptyPut.stderr);
    assert.deepEqual((JSON.parse((await runHere(['info', 'empty-pq', '--json'])).stdout) as { columns: { name: string }[] }).columns.map((column) => column.name), ['id', 'tags']);
    const none = await runHere(['get', 'empty-pq', '--format', 'parquet']);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(tableFromIPC(readParquet(none.stdoutBytes).intoIPCStream()).numRows, 0);
    const directoryPut = await runHere(['put', 'x', directory, '--format', 'parquet']);
    assert.equal(directoryPut.code, 2);
    assert.match(directoryPut.stderr, /is a directory/);

    // Garbage in the middle of the first column chunk: the library panics rather than rejecting.
    const bytes = Buffer.from(readFileSync(path));
    bytes.fill(0xff, 8, 40);
    const corrupt = await run(['put', 'corrupt', file('corrupt.parquet', bytes)]);
    assert.equal(corrupt.code, 1);
    assert.match(corrupt.stderr, /^longbow: .*corrupt\.parquet: (not a readable Parquet file|the Parquet library aborted)/);
    assert.doesNotMatch(corrupt.stderr, /at .*wasm/);
  });

  test('stats, snapshot, drop', async () => {
    const stats = await runHere(['stats', '--json']);
    assert.ok((JSON.parse(stats.stdout) as { datasets: number }).datasets >= 1);
    assert.match((await runHere(['stats'])).stdout, /^memory +\d+/);
    const snapshot = await runHere(['snapshot']);
    assert.equal(snapshot.code, 0, snapshot.stderr);
    assert.match(snapshot.stdout, /^snapshot created/);
    assert.equal((await runHere(['put', 'to-drop', file('drop.jsonl', '{"id": 1}\n')])).code, 0);
    assert.equal((await runHere(['drop', 'to-drop'])).stdout, 'dropped to-drop\n');
    assert.equal((await runHere(['info', 'to-drop'])).code, 1);
  });

  test('bad input and command lines', async () => {
    const badCsv = await runHere(['put', 'bad', file('bad.csv', 'id,n\n1,2\n2\n')]);
    assert.equal(badCsv.code, 1);
    assert.match(badCsv.stderr, /bad\.csv: row 2: 1 fields, the header has 2/);
    const badJson = await runHere(['put', 'bad', file('bad.jsonl', '{"n": 1}\n{"n": 2.5}\n'), '--batch-rows', '1']);
    assert.match(badJson.stderr, /bad\.jsonl: column "n", row 2: 2.5 is not an integer/);
    const parquet = await runHere(['put', 'x', file('broken.parquet', 'PAR1 this is not parquet PAR1')]);
    assert.equal(parquet.code, 1);
    assert.match(parquet.stderr, /broken\.parquet: not a readable Parquet file/);
    assert.equal((await runHere(['frobnicate'])).code, 2);
    assert.equal((await runHere(['get', 'x', '--format', 'xml'])).code, 2);
    assert.equal((await runHere(['put', 'x', 'f.csv', '-t', 'n=decimal'])).code, 2);
    const help = await runHere(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: longbow COMMAND/);
  });

  test('SIGTERM stops `longbow serve` with exit code 0', async () => {
    const exited = new Promise<number | null>((resolve) => server.on('exit', resolve));
    server.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});

describe('Parquet lists as vectors, and a failing Parquet write', () => {
  const batchOf = (columns: Record<string, Vector>) => new Table(columns).batches[0];
  const listOf = (rows: (number[] | null)[], large = false) => {
    const item = new Field('item', new Float32(), true);
    return vectorFromArray(rows, large ? new LargeList(item) : new List(item));
  };

  const convert = (batch: RecordBatch) => {
    const shape = new VectorShape('f');
    assert.ok(shape.learn(batch));
    return shape.fix(batch);
  };

  test('null rows keep their slot and validity; LargeList too; values unchanged', () => {
    for (const large of [false, true]) {
      const batch = convert(batchOf({ embedding: listOf([[1, 2], null, [5, 6]], large) }));
      const vectors = batch.getChild('embedding')!;
      assert.equal(String(batch.schema.fields[0].type), 'FixedSizeList[2]<Float32>');
      assert.deepEqual([0, 1, 2].map((row) => vectors.isValid(row)), [true, false, true]);
      assert.deepEqual([...vectors.get(0)!], [1, 2]);
      assert.deepEqual([...vectors.get(2)!], [5, 6]);
    }
  });

  test('a null inside a vector is refused; other columns and fixed-size lists are left as they are', () => {
    assert.throws(() => convert(batchOf({ vector: vectorFromArray([[1, 2], [3, null]], new List(new Field('item', new Float32(), true))) })),
      /f: column "vector", row 2: a null value inside a vector/);
    assert.throws(() => convert(batchOf({ vector: listOf([[], [1]]) })), /f: column "vector", row 1: an empty vector/);
    const untouched = batchOf({ tags: listOf([[1], [2, 3]]) });
    assert.equal(convert(untouched), untouched);
    // Only the first vector-named column is the vector column, as for the server.
    const two = batchOf({ vector: listOf([[1, 2]]), embedding: listOf([[1, 2, 3]]) });
    assert.deepEqual(convert(two).schema.fields.map((field) => String(field.type)), ['FixedSizeList[2]<Float32>', 'List<Float32>']);
  });

  test('batches whose vectors are all null wait for the dimension; only nulls is refused', () => {
    const shape = new VectorShape('f');
    assert.equal(shape.learn(batchOf({ vector: listOf([null, null]) })), false);
    assert.match(shape.undecided(), /column "vector" holds only null vectors, so nothing tells their dimension/);
    assert.equal(shape.learn(batchOf({ vector: listOf([[1, 2, 3]]) }), 2), true);
    const held = shape.fix(batchOf({ vector: listOf([null, null]) }));
    assert.equal(String(held.schema.fields[0].type), 'FixedSizeList[3]<Float32>');
    assert.equal(held.getChild('vector')!.nullCount, 2);
  });

  test('a result that fails midway fails the Parquet write and leaves no readable file', async () => {
    const first = batchOf({ id: vectorFromArray([1, 2, 3]) });
    async function* batches() {
      yield first;
      throw new Error('connection lost');
    }
    const chunks: Buffer[] = [];
    const sink = new Writable({ write(chunk: Buffer, _encoding, callback) { chunks.push(chunk); callback(); } });
    await assert.rejects(writeResults({ batches: batches(), schema: () => first.schema }, sink, { format: 'parquet' }), /connection lost/);
    // The library would end the file normally; what was written must not pass for the whole result.
    assert.throws(() => readParquet(Buffer.concat(chunks)));
  });

  test('an output that fails stops the result from being read on', async () => {
    const batch = batchOf({ id: vectorFromArray(Float64Array.from({ length: 50_000 }, (_, i) => i)) });
    let pulled = 0;
    let stoppedEarly = false;
    async function* endless() {
      try {
        for (;;) {
          pulled++;
          yield batch;
        }
      } finally {
        stoppedEarly = true;
      }
    }
    const failing = new Writable({ write(_chunk, _encoding, callback) { callback(new Error('no space left on device')); } });
    failing.on('error', () => {});
    await assert.rejects(writeResults({ batches: endless(), schema: () => batch.schema }, failing, { format: 'parquet' }), /no space left/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = pulled;
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(pulled, after, 'no batch read after the failure');
    assert.ok(stoppedEarly, 'the result was closed');
  });
});

describe('CSV and cell text', () => {
  test('parser: quotes, escaped quotes, line breaks in fields, CRLF, blank lines, chunk boundaries', () => {
    const text = 'a,b,c\r\n"x, y","say ""hi""","two\nlines"\n\n1,,3\n';
    const expected = [['a', 'b', 'c'], ['x, y', 'say "hi"', 'two\nlines'], ['1', '', '3']];
    assert.deepEqual(parseCsv(text), expected);
    assert.deepEqual(parseCsv('a,b\n1,2'), [['a', 'b'], ['1', '2']]);
    assert.deepEqual(parseCsv('a\tb\n1\t2\n', '\t'), [['a', 'b'], ['1', '2']]);
    assert.throws(() => parseCsv('a\n"open'), /ends inside a quoted field/);
    // Every split point of the text gives the same records.
    for (let cut = 0; cut <= text.length; cut++) {
      const parser = new CsvParser();
      const records = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut)), ...parser.end()];
      assert.deepEqual(records, expected, `split at ${cut}`);
    }
  });

  test('writer quotes what needs quoting; cells format as text', () => {
    assert.equal(csvLine(['plain', 'a,b', 'say "x"', 'two\nlines', '']), 'plain,"a,b","say ""x""","two\nlines",\n');
    const ids = vectorFromArray([2n ** 60n + 1n, null], new Int64());
    assert.equal(csvText(ids.get(0), ids.type), '1152921504606846977');
    assert.equal(csvText(ids.get(1), ids.type), '');
    const batch = makeBatch(1, 64);
    const vector = batch.getChild('vector')!;
    assert.match(displayText(vector.get(0), vector.type), /^\[0, 0\.142857, .*, …\] \(64\)$/);
    assert.equal(displayText(1 / 3, new Float32()), '0.333333');
  });
});
