import assert from 'node:assert/strict';
import { createServer, Socket } from 'node:net';
import { test } from 'node:test';
import type { AppConfig } from '@portcullis/wire';
import { GatewayError } from '../../errors.ts';
import { createLogger } from '../../observability/index.ts';
import { SshProxyBackend } from './ssh-proxy-backend.ts';

test('the upstream connection sends each SSH packet at once (TCP_NODELAY), as the listener does', { timeout: 10_000 }, async (t) => {
  // The option cannot be read back from a socket: the call is observed, and matched to the
  // connection the upstream server accepted by its port.
  const noDelay = new Set<Socket>();
  const original = Socket.prototype.setNoDelay;
  Socket.prototype.setNoDelay = function (this: Socket, enable?: boolean) {
    if (enable !== false) noDelay.add(this);
    return original.call(this, enable);
  };
  t.after(() => {
    Socket.prototype.setNoDelay = original;
  });
  let upstreamSawNoDelay: boolean | undefined;
  const upstream = createServer((accepted) => {
    upstreamSawNoDelay = [...noDelay].some((socket) => socket.localPort === accepted.remotePort);
    // No SSH server here: the gateway's handshake fails, which the backend reports by name.
    accepted.destroy();
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.after(() => upstream.close());
  const port = (upstream.address() as { port: number }).port;
  const config = {
    backend: 'sshproxy',
    sshproxy: {
      server: '127.0.0.1',
      port,
      username: 'alice',
      password: 'x',
      usernamePassThrough: false,
      allowedHostKeyFingerprints: ['SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
      timeout: 5_000,
    },
  } as unknown as AppConfig;
  const backend = new SshProxyBackend(createLogger('silent'));
  await assert.rejects(
    backend.openConnection({ identity: { connectionId: 'c1', remoteAddress: '127.0.0.1' } as never, authenticatedUsername: 'alice', config, environment: {} }),
    (error: unknown) => error instanceof GatewayError && error.code === 'SSHPROXY_BACKEND_FAILED',
  );
  assert.equal(upstreamSawNoDelay, true, 'the gateway side of the upstream connection turned Nagle off');
});
