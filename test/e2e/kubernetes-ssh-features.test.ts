import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import ssh2 from 'ssh2';
import { hardenedPod, worldWithPod, type KubeWorld } from '../helpers/kubernetes.ts';
import { logMark } from '../helpers/log-wait.ts';
import { runSsh } from '../helpers/ssh-client.ts';
import { E2E } from '../helpers/deadlines.ts';

/** An ssh2 client logged in through the gateway, to open a forward channel without a local listener. */
async function ssh2Client({ world }: KubeWorld): Promise<ssh2.Client> {
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve).once('error', reject);
    client.connect({ host: '127.0.0.1', port: world.sshPort, username: world.username, password: world.password, readyTimeout: 90_000 });
  });
  return client;
}

// Signals, Ctrl-C, filters, -L, -D, -R, Unix sockets, -A and -X on Kubernetes (connection mode):
// ssh-features-sessions.test.ts and ssh-features-forwarding.test.ts run them on both backends.
// Here: what only Kubernetes modes have.

test('persistent mode: -R reaches a server on the test host; the agent ends with its connection', E2E, async (t) => {
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

test('session mode (a pod per session): forwarding is refused with a code, no pod is started for it', E2E, async (t) => {
  const kube = await worldWithPod(t, hardenedPod({ mode: 'session' }), { security: { forwarding: { forwardingMode: 'enable' } } });
  const log = logMark(kube.world.gateway);
  const client = await ssh2Client(kube);
  t.after(() => client.end());
  const refusal = await new Promise<Error | undefined>((resolve) =>
    client.forwardOut('127.0.0.1', 40000, '127.0.0.1', 17777, (error, stream) => {
      stream?.destroy();
      resolve(error);
    }),
  );
  assert.match(String(refusal?.message), /Channel open failure/);
  await log.next('SSH_FORWARD_REJECTED');
  assert.deepEqual(kube.sessionPods(), []);
});
