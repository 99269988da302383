import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import ssh2 from 'ssh2';
import { hardenedPod, worldWithPod, type KubeWorld } from '../helpers/kubernetes.ts';
import { logMark } from '../helpers/log-wait.ts';
import { holdSession, runSsh } from '../helpers/ssh-client.ts';

/** An ssh2 client logged in through the gateway (OpenSSH cannot send a `signal` request). */
async function ssh2Client({ world }: KubeWorld): Promise<ssh2.Client> {
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve).once('error', reject);
    client.connect({ host: '127.0.0.1', port: world.sshPort, username: world.username, password: world.password, readyTimeout: 90_000 });
  });
  return client;
}

/** Runs `command`, sends `signal` once output shows, and resolves how the program ended. */
function execAndSignal(client: ssh2.Client, command: string, signal: string) {
  return new Promise<{ code: number | null; signal?: string; output: string }>((resolve, reject) => {
    client.exec(command, (error, channel) => {
      if (error) return reject(error);
      let output = '';
      channel.on('exit', (code: number | null, signalName?: string) => resolve({ code, ...(signalName ? { signal: signalName } : {}), output }));
      channel.on('data', (chunk: Buffer) => {
        const first = output === '';
        output += chunk.toString('utf8');
        if (first) channel.signal(signal);
      });
      channel.stderr.resume();
    });
  });
}


// -L, -D, -R, Unix sockets, -A and -X on Kubernetes: ssh-features-forwarding.test.ts (both backends).
test('signals on the Kubernetes backend (connection mode) with the real OpenSSH client', async (t) => {
  const kube = await worldWithPod(t, hardenedPod({ mode: 'connection' }));
  const { world } = kube;
  t.after(async () => {
    assert.deepEqual(await kube.waitForNoPods(), [], 'no session pod is left');
  });

  await t.test('a client signal request stops sleep in the pod and comes back as exit-signal', async (t) => {
    const log = logMark(world.gateway);
    const client = await ssh2Client(kube);
    t.after(() => client.end());
    const ended = await execAndSignal(client, 'echo started; exec sleep 60', 'INT');
    assert.deepEqual({ code: ended.code, signal: ended.signal }, { code: null, signal: 'SIGINT' });
    await log.next('SESSION_SIGNAL_DELIVERED');
  });

  await t.test('Ctrl-C with ssh -tt stops sleep in the pod and the client sees the SIGINT exit (130)', async () => {
    const held = await holdSession({ port: world.sshPort, username: world.username, password: world.password, tty: true, command: 'echo ready; sleep 60; echo not-interrupted' });
    await held.waitFor('ready', 90_000);
    held.release('\x03');
    assert.equal(await held.closed, 130, held.stdout());
    assert.doesNotMatch(held.stdout(), /not-interrupted/);
  });
});

test('persistent mode: -R reaches a server on the test host; the agent ends with its connection', async (t) => {
  const podName = `forwarding-${process.pid}`;
  const kube = await worldWithPod(t, hardenedPod({ mode: 'persistent', podName, createMissingPods: true }), {
    security: { forwarding: { reverseForwardingMode: 'enable' } },
  });
  const { world } = kube;
  const server = createServer((socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => socket.end(`host:${Buffer.concat(chunks).toString('utf8')}`));
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const hostPort = (server.address() as AddressInfo).port;

  const forwarded = await runSsh({
    port: world.sshPort,
    username: world.username,
    password: world.password,
    extraArgs: ['-o', 'ExitOnForwardFailure=yes', '-R', `17779:127.0.0.1:${hostPort}`],
    // OpenSSH starts the command without waiting for the forward's reply: retry until it listens.
    command: 'for i in $(seq 100); do out=$(printf ping | nc -N 127.0.0.1 17779 2>/dev/null); [ -n "$out" ] && break; sleep 0.2; done; echo "got:$out"',
    timeoutMs: 90_000,
  });
  assert.equal(forwarded.code, 0, forwarded.stderr);
  assert.equal(forwarded.stdout, 'got:host:ping\n');

  // The pod outlives the connection; the agent that listened for it must not.
  const agentLeft = await runSsh({
    port: world.sshPort,
    username: world.username,
    password: world.password,
    command:
      'for i in $(seq 100); do found=; for d in /proc/[0-9]*; do tr "\\000" " " < "$d/cmdline" 2>/dev/null | grep -q "^/usr/local/bin/portcullis-agent listen" && found=yes; done; ' +
      '[ -z "$found" ] && break; sleep 0.2; done; echo "agent:${found:-gone}"',
    timeoutMs: 90_000,
  });
  assert.equal(agentLeft.stdout, 'agent:gone\n', agentLeft.stderr);
  assert.deepEqual(kube.sessionPods(), [podName], 'the persistent pod is kept');
});

test('session mode (a pod per session): forwarding is refused with a code, no pod is started for it', async (t) => {
  const kube = await worldWithPod(t, hardenedPod({ mode: 'session' }), { security: { forwarding: { forwardingMode: 'enable' } } });
  const log = logMark(kube.world.gateway);
  const client = await ssh2Client(kube);
  t.after(() => client.end());
  const refusal = await new Promise<Error | undefined>((resolve) => client.forwardOut('127.0.0.1', 40000, '127.0.0.1', 17777, (error, stream) => {
    stream?.destroy();
    resolve(error);
  }));
  assert.match(String(refusal?.message), /Channel open failure/);
  await log.next('SSH_FORWARD_REJECTED');
  assert.deepEqual(kube.sessionPods(), []);
});
