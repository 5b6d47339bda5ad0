import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, prettyLine } from '../src/log/logger.ts';

test('JSON lines carry upper-case levels and msg', () => {
  const lines: string[] = [];
  const destination = new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done(); } });
  const logger = createLogger({ level: 'info', destination });
  logger.info({ dataset: 'a' }, 'hello');
  logger.debug('hidden');
  assert.equal(lines.length, 1);
  const record = JSON.parse(lines[0]) as Record<string, unknown>;
  assert.equal(record.level, 'INFO');
  assert.equal(record.msg, 'hello');
  assert.equal(record.dataset, 'a');
});

test('pretty format: time, level, message, then key=value pairs', () => {
  const line = prettyLine('{"level":"WARN","time":"2026-11-25T10:00:00.000Z","key":"LONGBOW_TTL","n":3,"msg":"reload failed"}');
  assert.equal(line, '2026-11-25T10:00:00.000Z WARN  reload failed key=LONGBOW_TTL n=3\n');
  assert.equal(prettyLine('not json\n'), 'not json\n');
  const withStack = prettyLine(JSON.stringify({ level: 'ERROR', time: 't', msg: 'boom', err: { stack: 'Error: x\n    at y' } }));
  assert.match(withStack, /^t ERROR boom\n {2}Error: x\n {6}at y\n$/);
});
