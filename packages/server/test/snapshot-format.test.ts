/**
 * Golden snapshot: a fixed dataset written as a snapshot must give byte-identical files, so a
 * change of the snapshot format (or of the Arrow encoding underneath) cannot slip in unnoticed.
 * If this fails on purpose, bump SNAPSHOT_FORMAT_VERSION, document it in docs/formats.md and
 * update the constants.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSnapshot } from '../src/snapshot/snapshot-writer.ts';
import { loadCurrentSnapshot } from '../src/snapshot/snapshot-reader.ts';
import { crc32c } from '../src/wal/crc32c.ts';
import { makeBatch } from './helpers.ts';


test('a fixed dataset gives the same snapshot bytes, and reads back equal', async () => {
  const root = mkdtempSync(join(tmpdir(), 'longbow-golden-'));
  try {
    const batches = [makeBatch(3, 2, 0), makeBatch(2, 2, 3)];
    const written = await writeSnapshot(root, 42, [{ name: 'golden', schema: batches[0].schema, batches, rows: 5 }]);
    assert.equal(written.manifest.id, 'snapshot-00000000000000000042');
    assert.deepEqual(Object.keys(written.manifest), ['formatVersion', 'id', 'seq', 'createdAt', 'datasets']);
    const [entry] = written.manifest.datasets;
    assert.deepEqual({ ...entry }, { name: 'golden', file: 'dataset-000000.arrows', rows: 5, batches: 2, fileBytes: entry.fileBytes, crc32c: entry.crc32c });
    const bytes = readFileSync(join(written.directory, entry.file));
    assert.equal(crc32c(bytes), entry.crc32c);
    assert.equal(bytes.byteLength, 1096, 'file size of the golden dataset');
    assert.equal(entry.crc32c, 0x1208c405, 'CRC32C of the golden dataset file');
    const loaded = await loadCurrentSnapshot(root);
    assert.equal(loaded?.manifest.seq, 42);
    const ids = loaded!.datasets[0].batches.flatMap((batch) => [...batch.getChild('id')!].map(Number));
    assert.deepEqual(ids, [0, 1, 2, 3, 4]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('format version 2: deleted rows are a bitmap file beside the dataset file, read back as written', async () => {
  const root = mkdtempSync(join(tmpdir(), 'longbow-golden-'));
  try {
    const batches = [makeBatch(3, 2, 0), makeBatch(7, 2, 3)];
    const deleted = Uint8Array.from([0b1000_0010, 0b0000_0010]); // ordinals 1, 7 and 9 of 10
    const written = await writeSnapshot(root, 43, [{ name: 'golden', schema: batches[0].schema, batches, rows: 10, deleted }]);
    assert.equal(written.manifest.formatVersion, 2);
    const [entry] = written.manifest.datasets;
    assert.deepEqual(entry.tombstones, { file: 'dataset-000000.deleted', rows: 3, fileBytes: 2, crc32c: crc32c(deleted) });
    assert.deepEqual([...readFileSync(join(written.directory, 'dataset-000000.deleted'))], [0x82, 0x02], 'bit i, LSB first, is ordinal i');
    const loaded = await loadCurrentSnapshot(root);
    assert.deepEqual([...loaded!.datasets[0].deleted!], [0x82, 0x02]);
    const none = await writeSnapshot(root, 44, [{ name: 'golden', schema: batches[0].schema, batches, rows: 10, deleted: new Uint8Array(2) }]);
    assert.equal(none.manifest.datasets[0].tombstones, undefined, 'no file when no row is deleted');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
