import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from './logger.ts';

test('a 30,000-character client field becomes a bounded log line, in bindings and fields alike', () => {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => done(void lines.push(chunk.toString())) });
  const name = 'x'.repeat(30_000);
  createLogger('info', sink)
    .child({ username: name })
    .info({ code: 'AUTH_FAILED', command: name, nested: { subsystem: name } }, 'credentials rejected');
  assert.equal(lines.length, 1);
  assert.ok(lines[0]!.length < 2_500, `line is ${lines[0]!.length} bytes`);
  const line = JSON.parse(lines[0]!) as { username: string; command: string; nested: { subsystem: string }; code: string };
  assert.match(line.username, /^x{400,}…\[30000 chars\]$/);
  assert.ok(line.username.length <= 512);
  assert.match(line.command, /\[30000 chars\]$/);
  assert.match(line.nested.subsystem, /\[30000 chars\]$/);
  assert.equal(line.code, 'AUTH_FAILED');
});
