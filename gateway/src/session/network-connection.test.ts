import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { test } from 'node:test';
import { pollUntil } from '../../../test/helpers/poll-until.ts';
import { noopBackendWith, runCommand, startInProcessGateway } from '../../../test/helpers/in-process-gateway.ts';

test('a client that never logs in is dropped after the login grace time, counted once and logged', { timeout: 15_000 }, async (t) => {
  const gateway = await startInProcessGateway(t, { deps: { loginGraceTimeMs: 300 } });
  const socket = connect(gateway.port, '127.0.0.1');
  t.after(() => socket.destroy());
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  // It identifies, then says nothing more.
  socket.write('SSH-2.0-idle_client\r\n');
  // The gateway ends its side (a frozen client's socket is the listener's to drop).
  socket.resume();
  await once(socket, 'end');
  socket.destroy();
  await gateway.waitForCode('SSH_DISCONNECTED');
  assert.ok(gateway.lines.some((line) => line.code === 'SSH_LOGIN_GRACE_EXPIRED'));
  assert.equal(gateway.closedConnections(), 1);
  const metrics = await gateway.metrics.registry.getSingleMetricAsString('containerssh_ssh_connections_total');
  assert.match(metrics, /containerssh_ssh_connections_total\{[^}]*\} 1$/m);
  assert.ok(!gateway.lines.some((line) => line.code === 'SSH_HANDSHAKE_SUCCESSFUL'));
});

test('a client that leaves after its program: the backend connection is closed before the last line, once', { timeout: 15_000 }, async (t) => {
  const closes: string[] = [];
  const backend = noopBackendWith((_connection, request) => ({ close: async () => void closes.push(request.identity.connectionId) }));
  const gateway = await startInProcessGateway(t, { deps: { backend } });
  const { client } = await gateway.connect();
  assert.equal((await runCommand(client, 'exit 0')).code, 0);
  client.end();
  await gateway.waitForCode('SSH_DISCONNECTED');
  assert.equal(closes.length, 1, 'the backend connection was closed once');
  const connected = gateway.lines.find((line) => line.code === 'SSH_CONNECTED');
  assert.equal(closes[0], connected?.connectionId, 'the connection closed is the one logged');
  await pollUntil(() => gateway.closedConnections() === 1, { what: 'the connection counted as closed' });
  // Every line of the connection names it; after login, the user too.
  const handshake = gateway.lines.find((line) => line.code === 'SSH_HANDSHAKE_SUCCESSFUL');
  assert.equal(handshake?.username, 'alice');
  assert.equal(handshake?.connectionId, connected?.connectionId);
});
