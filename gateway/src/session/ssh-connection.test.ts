import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { ClientChannel } from 'ssh2';
import type { Backend } from '../backends/index.ts';
import { SshProxyBackend } from '../backends/sshproxy/index.ts';
import { createLogger } from '../observability/index.ts';
import { noopBackendWith, runCommand, startInProcessGateway } from '../../../test/helpers/in-process-gateway.ts';
import { pollUntil } from '../../../test/helpers/poll-until.ts';

const DOCKER = { backend: 'docker', docker: { execution: { container: { image: 'portcullis/session:dev' } } } };
const KUBERNETES = { backend: 'kubernetes', kubernetes: { pod: { spec: { containers: [{ name: 'shell', image: 'portcullis/session:dev' }] } } } };

test('a session on the no-op backend: the program runs, its output and exit status reach the client', { timeout: 15_000 }, async (t) => {
  const gateway = await startInProcessGateway(t);
  const { client } = await gateway.connect();
  assert.equal((await runCommand(client, 'exit 3')).code, 3);
  // The no-op program echoes its input: what the client sends comes back, then status 0 at EOF.
  const channel = await new Promise<ClientChannel>((resolve, reject) => client.exec('cat', (error, stream) => (error ? reject(error) : resolve(stream))));
  let echoed = '';
  channel.on('data', (data: Buffer) => (echoed += data.toString()));
  channel.end('hello through the gateway\n');
  const [code] = (await once(channel, 'exit')) as [number];
  assert.equal(code, 0);
  assert.equal(echoed, 'hello through the gateway\n');
  const started = await gateway.metrics.registry.getSingleMetricAsString('containerssh_backend_requests_total');
  assert.match(started, /backend="docker"\} 1$/m, 'one backend start per connection, however many sessions');
});

test('maxSessions: a session beyond the limit is refused, the open one keeps working', { timeout: 15_000 }, async (t) => {
  const gateway = await startInProcessGateway(t, { config: { ...DOCKER, security: { maxSessions: 1 } } });
  const { client } = await gateway.connect();
  const first = await new Promise<ClientChannel>((resolve, reject) => client.exec('cat', (error, stream) => (error ? reject(error) : resolve(stream))));
  await assert.rejects(runCommand(client, 'exit 0'), /Channel open failure/);
  await gateway.waitForCode('SECURITY_MAX_SESSIONS');
  let echoed = '';
  first.on('data', (data: Buffer) => (echoed += data.toString()));
  first.end('still here\n');
  await once(first, 'close');
  assert.equal(echoed, 'still here\n');
  // Its slot is free again.
  assert.equal((await runCommand(client, 'exit 4')).code, 4);
});

test('direct-tcpip disabled by the policy: the forward is refused and never reaches the backend', { timeout: 15_000 }, async (t) => {
  let forwards = 0;
  const backend = noopBackendWith(() => ({
    forwardTcp: async () => {
      forwards += 1;
      throw new Error('no forward expected');
    },
  }));
  const gateway = await startInProcessGateway(t, { deps: { backend }, config: { ...DOCKER, security: { forwarding: { forwardingMode: 'disable' } } } });
  const { client } = await gateway.connect();
  await assert.rejects(new Promise((resolve, reject) => client.forwardOut('127.0.0.1', 0, '127.0.0.1', 9, (error, stream) => (error ? reject(error) : resolve(stream)))), /Channel open failure/);
  const line = await gateway.waitForCode('SECURITY_FORWARDING_REJECTED');
  assert.equal(line.kind, 'direct-tcpip');
  assert.equal(forwards, 0);
});

test('a Kubernetes start that fails without a code is logged as BACKEND_START_FAILED, never as a Docker code', { timeout: 15_000 }, async (t) => {
  const failing: Backend = {
    name: 'kubernetes',
    openConnection: async () => {
      throw new Error('pods is forbidden: exceeded quota');
    },
  };
  const gateway = await startInProcessGateway(t, { deps: { backend: failing }, config: KUBERNETES });
  const { client } = await gateway.connect();
  const result = await runCommand(client, 'id');
  assert.equal(result.code, 1);
  assert.match(result.stderr, /portcullis: Could not start your session\./);
  assert.ok(!result.stderr.includes('quota'), 'the API error is not shown to the user');
  const line = await gateway.waitForCode('BACKEND_START_FAILED');
  assert.equal(line.level, 'error');
  const metric = await gateway.metrics.registry.getSingleMetricAsString('containerssh_backend_errors_total');
  assert.match(metric, /backend="kubernetes"\} 1$/m);
  const codes = gateway.lines.map((logged) => String(logged.code));
  assert.deepEqual(
    codes.filter((code) => code.startsWith('DOCKER_')),
    [],
  );
});

test('a program that a non-Docker backend fails to start without a code is logged as BACKEND_EXEC_FAILED', { timeout: 15_000 }, async (t) => {
  const backend: Backend = {
    name: 'kubernetes',
    openConnection: async () => ({
      startSession: async () => {
        throw new Error('exec websocket closed');
      },
      close: async () => undefined,
    }),
  };
  const gateway = await startInProcessGateway(t, { deps: { backend }, config: KUBERNETES });
  const { client } = await gateway.connect();
  const result = await runCommand(client, 'id');
  assert.equal(result.code, 1);
  assert.match(result.stderr, /portcullis: Could not start your session\./);
  await gateway.waitForCode('BACKEND_EXEC_FAILED');
  assert.deepEqual(
    gateway.lines.map((logged) => String(logged.code)).filter((code) => code.startsWith('DOCKER_')),
    [],
  );
});

test('an SSH proxy whose upstream is unreachable logs its own SSHPROXY code and no Docker code', { timeout: 15_000 }, async (t) => {
  // A port that was just free: nothing listens there.
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const gateway = await startInProcessGateway(t, {
    deps: { backend: new SshProxyBackend(createLogger('silent')) },
    config: { backend: 'sshproxy', sshproxy: { server: '127.0.0.1', port, username: 'upstream', password: 'x', allowedHostKeyFingerprints: [`SHA256:${'A'.repeat(43)}`], timeout: 2_000 } },
  });
  const { client } = await gateway.connect();
  const result = await runCommand(client, 'id');
  assert.equal(result.code, 1);
  assert.match(result.stderr, /Could not reach your server\. \(SSHPROXY_BACKEND_FAILED\)/);
  await gateway.waitForCode('SSHPROXY_BACKEND_FAILED');
  assert.deepEqual(
    gateway.lines.map((logged) => String(logged.code)).filter((code) => code.startsWith('DOCKER_')),
    [],
  );
});

test('a compressed client that leaves while its direct-tcpip forward opens: no reply reaches the gone connection, the opened stream is closed', { timeout: 15_000 }, async (t) => {
  // ssh2 throws on any packet after a compressed connection is gone ("Invalid Zlib instance");
  // a late reply would end as an unhandled rejection, outside every connection's handler.
  const escaped: unknown[] = [];
  const onUnhandled = (reason: unknown) => escaped.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));
  let asked: () => void = () => undefined;
  const forwardAsked = new Promise<void>((resolve) => (asked = resolve));
  let open: (stream: PassThrough) => void = () => undefined;
  const backend = noopBackendWith(() => ({
    forwardTcp: () => {
      asked();
      return new Promise<PassThrough>((resolve) => (open = resolve));
    },
  }));
  const gateway = await startInProcessGateway(t, { deps: { backend } });
  const { client } = await gateway.connect({ algorithms: { compress: ['zlib@openssh.com'] } });
  client.forwardOut('127.0.0.1', 0, '127.0.0.1', 9, () => undefined);
  await forwardAsked;
  client.destroy();
  await gateway.waitForCode('SSH_DISCONNECTED');
  const upstream = new PassThrough();
  open(upstream);
  await pollUntil(() => upstream.destroyed || undefined, { what: 'the stream opened for the gone client to be closed', timeoutMs: 5_000, intervalMs: 10 });
  // A turn for a rejection to be reported, had there been one.
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(escaped, [], 'nothing escaped the connection');
  assert.ok(!gateway.lines.some((line) => line.code === 'SSH_CONNECTION_FAULT_CONTAINED'), 'no ssh2 call was made on the gone connection');
  // The gateway still serves the next client.
  const next = await gateway.connect();
  assert.equal((await runCommand(next.client, 'exit 5')).code, 5);
});

test('a handler that throws closes its own connection alone: logged with its code, counted, another connection keeps streaming', { timeout: 15_000 }, async (t) => {
  const escaped: unknown[] = [];
  const onEscape = (reason: unknown) => escaped.push(reason);
  process.on('unhandledRejection', onEscape);
  process.on('uncaughtException', onEscape);
  t.after(() => {
    process.off('unhandledRejection', onEscape);
    process.off('uncaughtException', onEscape);
  });
  // `broken` starts a program whose output stream throws when the session pipes it: a bug in a handler.
  const backend = noopBackendWith((connection) => ({
    startSession: async (program) => {
      if (program.command !== 'broken') return connection.startSession(program);
      const stdout = Object.assign(new PassThrough(), {
        pipe: () => {
          throw new Error('a handler bug');
        },
      });
      return { stdin: new PassThrough(), stdout, stderr: new PassThrough(), exited: new Promise(() => undefined), resize: async () => undefined, destroy: () => undefined };
    },
  }));
  const gateway = await startInProcessGateway(t, { deps: { backend } });
  const bystander = await gateway.connect();
  const echo = await new Promise<ClientChannel>((resolve, reject) => bystander.client.exec('cat', (error, stream) => (error ? reject(error) : resolve(stream))));
  let echoed = '';
  echo.on('data', (data: Buffer) => (echoed += data.toString()));
  echo.write('before\n');

  const victim = await gateway.connect();
  const victimClosed = once(victim.client, 'close');
  victim.client.exec('broken', () => undefined);
  const line = await gateway.waitForCode('SSH_CONNECTION_FAULT_CONTAINED');
  assert.equal(line.stage, 'handler');
  assert.equal(line.level, 'warn');
  await victimClosed;
  const metric = await gateway.metrics.registry.getSingleMetricAsString('portcullis_ssh_connection_faults_total');
  assert.match(metric, /stage="handler"\} 1$/m, 'counted once');
  assert.deepEqual(escaped, [], 'nothing reached the process handlers');

  echo.end('after\n');
  const [code] = (await once(echo, 'exit')) as [number];
  assert.equal(code, 0);
  assert.equal(echoed, 'before\nafter\n', 'the other connection streamed on, untouched');
});
