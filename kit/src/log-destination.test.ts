import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatRfc5424 } from './log-destination.ts';

test('a pino line becomes one RFC 5424 message: PRI from facility and level, the code as MSGID, the JSON as MSG', () => {
  const line = JSON.stringify({ level: 'warn', time: '2026-01-02T03:04:05.678Z', code: 'SSH_AUTH_FAILED', msg: 'x' });
  assert.equal(formatRfc5424(line, 16, 'portcullis-gateway', 'host1', 42), `<132>1 2026-01-02T03:04:05.678Z host1 portcullis-gateway 42 SSH_AUTH_FAILED - ${line}`);
  const numeric = JSON.stringify({ level: 60, time: Date.UTC(2026, 0, 1), code: 'has space' });
  assert.match(formatRfc5424(numeric, 4, 'app', 'h', 1), /^<34>1 2026-01-01T00:00:00\.000Z h app 1 - - /, 'fatal is critical; a code that is not a valid MSGID becomes "-"');
  assert.match(formatRfc5424('not json', 16, 'app', 'h', 1), /^<134>1 \S+ h app 1 - - not json$/);
});
