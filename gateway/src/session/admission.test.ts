import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Backend } from '../backends/index.ts';
import { NoopBackend } from '../../../bench/lib/noop-backend.ts';
import { runCommand, startInProcessGateway } from '../../../test/helpers/in-process-gateway.ts';
import { UserConnections } from './user-connections.ts';

test('authz refuses: the login fails as a denied attempt and the config webhook is never asked', { timeout: 15_000 }, async (t) => {
  const gateway = await startInProcessGateway(t, { deps: { authz: true, maxAuthTries: 1 }, authorize: async () => ({ accepted: false }) });
  const { error } = await gateway.refused();
  assert.notEqual(error.message, 'logged in');
  await gateway.waitForCode('AUTHZ_FAILED');
  assert.ok(gateway.lines.some((line) => line.code === 'AUTH_FAILED'));
  assert.equal(gateway.calls.authorize, 1);
  assert.equal(gateway.calls.config, 0);
});

test('authz renames the user: the session runs under the authorized name', { timeout: 15_000 }, async (t) => {
  const gateway = await startInProcessGateway(t, { deps: { authz: true }, authorize: async () => ({ accepted: true, authenticatedUsername: 'alice-admin', maps: {} }) });
  const { client } = await gateway.connect();
  assert.equal((await runCommand(client, 'exit 0')).code, 0);
  const line = await gateway.waitForCode('SSH_HANDSHAKE_SUCCESSFUL');
  assert.equal(line.username, 'alice-admin');
});

test('a config naming a backend this gateway lacks is refused before the login succeeds', { timeout: 15_000 }, async (t) => {
  const noop = new NoopBackend();
  const dockerOnly: Backend = { name: 'docker-only', openConnection: () => noop.openConnection(), supports: (name) => name === 'docker' };
  const gateway = await startInProcessGateway(t, {
    deps: { backend: dockerOnly },
    config: { backend: 'kubernetes', kubernetes: { pod: { spec: { containers: [{ name: 'shell', image: 'portcullis/session:dev' }] } } } },
  });
  const { error, banners } = await gateway.refused();
  assert.notEqual(error.message, 'logged in');
  assert.match(banners.join(''), /this gateway has no kubernetes backend\. \(CONFIG_UNSUPPORTED\)/);
  assert.ok(!gateway.lines.some((line) => line.code === 'SSH_HANDSHAKE_SUCCESSFUL'));
});

test('maxConnectionsPerUser: a second connection is refused while the first is open, and taken once it closed', { timeout: 15_000 }, async (t) => {
  const gateway = await startInProcessGateway(t, {
    config: { backend: 'docker', docker: { execution: { container: { image: 'portcullis/session:dev' } } }, security: { maxConnectionsPerUser: 1 } },
  });
  const first = await gateway.connect();
  const second = await gateway.refused();
  assert.notEqual(second.error.message, 'logged in');
  assert.match(second.banners.join(''), /\(SECURITY_MAX_CONNECTIONS_PER_USER\)/);
  first.client.end();
  await gateway.waitForCode('SSH_DISCONNECTED');
  const third = await gateway.connect();
  assert.equal((await runCommand(third.client, 'exit 7')).code, 7);
});

test('ssh.maxConnections: past the gateway total a login of another user is refused by code; a closed connection frees its slot', { timeout: 15_000 }, async (t) => {
  const gateway = await startInProcessGateway(t, { deps: { userConnections: new UserConnections(2) }, passwords: { alice: 'secret', bob: 'secret', carol: 'secret' } });
  const alice = await gateway.connect({ username: 'alice' });
  await gateway.connect({ username: 'bob' });
  const carol = await gateway.refused({ username: 'carol' });
  assert.notEqual(carol.error.message, 'logged in');
  assert.match(carol.banners.join(''), /this gateway is at its connection limit; try again later\. \(SECURITY_MAX_CONNECTIONS\)/);
  assert.equal(gateway.calls.config, 3, 'the refused login was admitted by auth and config, then refused for the total alone');
  alice.client.end();
  await gateway.waitForCode('SSH_DISCONNECTED');
  const retry = await gateway.connect({ username: 'carol' });
  assert.equal((await runCommand(retry.client, 'exit 3')).code, 3);
});
