import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayConfigSchema } from './gateway-config.ts';

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
