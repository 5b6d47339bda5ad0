/** docs/configuration.md and the settings schema name the same variables, defaults and reload rules. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SETTINGS, loadConfig } from '../src/config/config.ts';
import { RELOADABLE_SETTINGS } from '../src/config/reloader.ts';
import { ENV_FILE_VARIABLE } from '../src/config/env-file.ts';

const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');

/** Rows of the settings table: variable -> [default, reload]. */
function documentedRows(): Map<string, [string, string]> {
  const rows = new Map<string, [string, string]>();
  for (const line of doc.split('\n')) {
    const match = /^\| `(LONGBOW_[A-Z0-9_]+)` \| ([^|]+) \| ([^|]+) \|/.exec(line);
    if (match) rows.set(match[1], [match[2].trim(), match[3].trim()]);
  }
  return rows;
}

test('docs/configuration.md lists exactly the settings of the schema', () => {
  const documented = [...documentedRows().keys()].sort();
  const declared = [...Object.values(SETTINGS).map((setting) => setting.variable), ENV_FILE_VARIABLE].sort();
  assert.deepEqual(documented, declared);
});

test('documented defaults and reload rules match the schema', () => {
  const rows = documentedRows();
  for (const [key, setting] of Object.entries(SETTINGS)) {
    const [defaultText, reload] = rows.get(setting.variable)!;
    assert.equal(defaultText, setting.defaultValue === undefined ? 'unset' : `\`${setting.defaultValue}\``, setting.variable);
    assert.equal(reload, (RELOADABLE_SETTINGS as readonly string[]).includes(key) ? 'yes' : 'restart', setting.variable);
  }
  // Every default parses.
  assert.doesNotThrow(() => loadConfig({}));
});
