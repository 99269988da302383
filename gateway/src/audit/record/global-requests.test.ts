import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import ssh2 from 'ssh2';
import { generateParsableKeyPair } from '../../listener/index.ts';
import { tapGlobalRequests } from './global-requests.ts';
import { pollUntilOrLast } from '../../../../test/helpers/poll-until.ts';

test('global requests ssh2 answers itself (keepalive@openssh.com, before and after login) are seen by the tap, and still answered', async (t) => {
  const seen: string[] = [];
  let tapped = false;
  const server = new ssh2.Server({ hostKeys: [generateParsableKeyPair('ed25519').private] }, (client) => {
    tapped = tapGlobalRequests(client, (name) => seen.push(name));
    client.on('authentication', (ctx) => ctx.accept());
    client.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new ssh2.Client();
  t.after(async () => {
    client.end();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  await new Promise<void>((resolve, reject) => {
    client.on('ready', resolve).on('error', reject);
    client.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, username: 'u', password: 'p', keepaliveInterval: 20, keepaliveCountMax: 1000 });
  });
  await pollUntilOrLast(() => seen.includes('keepalive@openssh.com'), { what: 'a keepalive@openssh.com request', until: (found) => found, timeoutMs: 20_000, intervalMs: 20 });
  assert.ok(tapped, 'the tap found ssh2 handler to wrap');
  assert.ok(seen.includes('keepalive@openssh.com'), `seen: ${seen.join(',')}`);
  // The client is still connected: ssh2 answered the keepalives as before (a failure reply counts as alive).
  const forwarded = await new Promise<boolean>((resolve) => client.forwardIn('127.0.0.1', 0, (error) => resolve(!error)));
  assert.equal(forwarded, false, 'forwarding is refused without a request listener, as before');
  assert.ok(seen.includes('tcpip-forward'));
});
