import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Socket, connect } from 'node:net';
import { test } from 'node:test';
import ssh2 from 'ssh2';
import { createLogger } from '../observability/index.ts';
import { startSshListener } from './ssh-listener.ts';

test('accepted connections send each SSH packet at once (TCP_NODELAY): SFTP and scp status replies are not held back by Nagle', { timeout: 10_000 }, async (t) => {
  // Nagle would hold each small reply until the previous one is acknowledged: measured, it
  // halved `sftp put` (bench/README.md). The option cannot be read back from a socket, so the
  // call is observed.
  const calls: Array<{ readonly remotePort: number | undefined; readonly noDelay: boolean | undefined }> = [];
  const original = Socket.prototype.setNoDelay;
  Socket.prototype.setNoDelay = function (this: Socket, noDelay?: boolean) {
    calls.push({ remotePort: this.remotePort, noDelay });
    return original.call(this, noDelay);
  };
  t.after(() => {
    Socket.prototype.setNoDelay = original;
  });
  const listener = await startSshListener({
    hostKeys: [Buffer.from(ssh2.utils.generateKeyPairSync('ed25519').private)],
    host: '127.0.0.1',
    port: 0,
    maxStartups: { start: 10, rate: 30, full: 100, perSource: 10 },
    log: createLogger('silent'),
    onConnection: () => undefined,
  });
  t.after(() => listener.close());
  const client = connect(listener.port, '127.0.0.1');
  // The server's identification line: the connection was accepted and handed to ssh2.
  await once(client, 'data');
  const clientPort = client.localPort;
  client.destroy();
  assert.ok(
    calls.some((call) => call.remotePort === clientPort && call.noDelay === true),
    'the server side of this connection turned Nagle off',
  );
});
