import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { statusName } from '@longbow/flight';
import { ERRORS, longbowError } from '../src/errors.ts';

test('docs/errors.md lists exactly the registry, with the same status and message', () => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map<string, { status: string; template: string }>();
  for (const match of doc.matchAll(/^\| `([A-Z_]+)` \| ([A-Z_]+) \| `([^`]*)` \|/gm)) {
    rows.set(match[1], { status: match[2], template: match[3] });
  }
  assert.deepEqual([...rows.keys()].sort(), Object.keys(ERRORS).sort());
  for (const [code, spec] of Object.entries(ERRORS)) {
    assert.equal(rows.get(code)?.status, statusName(spec.status), `${code} status`);
    assert.equal(rows.get(code)?.template, spec.template, `${code} message`);
  }
});

test('longbowError fills the template and carries the code', () => {
  const error = longbowError('DATASET_NOT_FOUND', 'embeddings');
  assert.equal(error.message, 'dataset not found: embeddings');
  assert.equal(error.errorCode, 'DATASET_NOT_FOUND');
  assert.equal(statusName(error.code), 'NOT_FOUND');
});
