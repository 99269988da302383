import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayConfigSchema } from '../settings/gateway-config.ts';
import { formatRfc5424 } from './log-destination.ts';

test('a pino line becomes one RFC 5424 message: PRI from facility and level, the code as MSGID, the JSON as MSG', () => {
  const line = JSON.stringify({ level: 'warn', time: '2026-01-02T03:04:05.678Z', code: 'SSH_AUTH_FAILED', msg: 'x' });
  assert.equal(formatRfc5424(line, 16, 'portcullis-gateway', 'host1', 42), `<132>1 2026-01-02T03:04:05.678Z host1 portcullis-gateway 42 SSH_AUTH_FAILED - ${line}`);
  const numeric = JSON.stringify({ level: 60, time: Date.UTC(2026, 0, 1), code: 'has space' });
  assert.match(formatRfc5424(numeric, 4, 'app', 'h', 1), /^<34>1 2026-01-01T00:00:00\.000Z h app 1 - - /, 'fatal is critical; a code that is not a valid MSGID becomes "-"');
  assert.match(formatRfc5424('not json', 16, 'app', 'h', 1), /^<134>1 \S+ h app 1 - - not json$/);
});

test('gateway log settings: destination file needs log.file; syslog destinations are checked', () => {
  const base = {
    ssh: { hostKeyDir: '/k' },
    auth: { url: 'https://a', caFile: 'a', certFile: 'b', keyFile: 'c' },
    configserver: { url: 'https://c', caFile: 'a', certFile: 'b', keyFile: 'c' },
  };
  assert.equal(GatewayConfigSchema.parse(base).log.destination, 'stdout');
  const noFile = GatewayConfigSchema.safeParse({ ...base, log: { destination: 'file' } });
  assert.equal(noFile.success, false);
  assert.deepEqual(noFile.error?.issues[0]?.path, ['log', 'file']);
  assert.equal(GatewayConfigSchema.safeParse({ ...base, log: { destination: 'syslog', syslog: { destination: 'http://x:1' } } }).success, false);
  for (const destination of ['udp://127.0.0.1:514', 'tcp://logs.example:6514', 'unix:///run/syslog.sock', 'udp://[::1]:514']) {
    assert.equal(GatewayConfigSchema.parse({ ...base, log: { destination: 'syslog', syslog: { destination } } }).log.syslog?.destination, destination);
  }
});
