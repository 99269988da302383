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

test('errors ssh2 reports on a connection are logged and counted by their level: a garbled packet, a reset', { timeout: 15_000 }, async (t) => {
  const gateway = await startInProcessGateway(t);
  const rawClient = async () => {
    const socket = connect(gateway.port, '127.0.0.1');
    t.after(() => socket.destroy());
    socket.on('error', () => undefined);
    socket.resume();
    await once(socket, 'connect');
    socket.write('SSH-2.0-raw_client\r\n');
    return socket;
  };
  // A packet whose length field is nonsense: ssh2 names no level for it ("Bad packet length").
  const garbled = await rawClient();
  garbled.write(Buffer.alloc(64, 0xff));
  const bad = await pollUntil(() => gateway.lines.find((line) => line.code === 'SSH_CONNECTION_ERROR' && line.errorLevel === 'other'), {
    what: 'the garbled packet logged',
    timeoutMs: 5_000,
    intervalMs: 10,
  });
  assert.match(JSON.stringify(bad.error), /Bad packet length/);
  // A client whose socket is reset mid-handshake.
  const reset = await rawClient();
  await pollUntil(() => gateway.lines.filter((line) => line.code === 'SSH_CONNECTED').length === 2 || undefined, { what: 'the second connection accepted', timeoutMs: 5_000, intervalMs: 10 });
  reset.resetAndDestroy();
  await pollUntil(() => gateway.lines.find((line) => line.code === 'SSH_CONNECTION_ERROR' && line.errorLevel === 'socket'), { what: 'a socket error logged', timeoutMs: 5_000, intervalMs: 10 });
  const metric = await gateway.metrics.registry.getSingleMetricAsString('portcullis_ssh_connection_errors_total');
  assert.match(metric, /level="other"\} 1$/m);
  assert.match(metric, /level="socket"\} 1$/m);
  // Each ended its own connection only: the gateway still logs a client in.
  await gateway.connect();
});
