import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PassThrough } from 'node:stream';
import WebSocket from 'ws';
import { startKubeApiServer, type KubeApiServer } from './index.ts';
import { execIn, isRunning, kubeClients, sessionPod, watchPodUntil, type KubeClients } from './client.ts';
import { pollUntilOrLast } from '../helpers/poll-until.ts';

const NS = 'exec';

/** A stdout that client-node treats as a terminal, so it sends its size on the resize channel. */
function terminal(columns: number, rows: number): PassThrough & { columns: number; rows: number } {
  return Object.assign(new PassThrough(), { columns, rows });
}

/** Opens an exec WebSocket that the server is expected to refuse; returns the HTTP answer. */
async function refusedUpgrade(server: KubeApiServer, path: string): Promise<{ code: number; body: Record<string, unknown> }> {
  const ws = new WebSocket(`${server.url.replace('https', 'wss')}${path}`, ['v5.channel.k8s.io', 'v4.channel.k8s.io'], {
    ca: server.caPem,
    headers: { Authorization: `Bearer ${server.token}` },
  });
  return new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body: JSON.parse(body) as Record<string, unknown> }));
    });
    ws.on('open', () => {
      ws.close();
      reject(new Error('the exec was accepted'));
    });
    ws.on('error', () => undefined);
  });
}

describe('test kube-apiserver: pods/exec over the channel WebSocket protocol', () => {
  let server: KubeApiServer;
  let clients: KubeClients;

  before(async () => {
    server = await startKubeApiServer({ namespaces: [NS] });
    clients = await kubeClients(server, NS);
    await clients.core.createNamespacedPod({ namespace: NS, body: sessionPod('box') });
    await watchPodUntil(clients, NS, 'box', isRunning);
  });
  after(async () => {
    await clients?.dispose();
    await server?.close();
  });

  it('separates stdout and stderr and reports a non-zero exit code on the status channel', async () => {
    const result = await execIn(clients, NS, 'box', ['sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(result.stdout, 'out\n');
    assert.equal(result.stderr, 'err\n');
    assert.deepEqual(result.status, {
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [sh -c echo out; echo err >&2; exit 3], exit code 3',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
  });

  it('reports Success for exit code 0', async () => {
    const result = await execIn(clients, NS, 'box', ['true']);
    assert.deepEqual(result.status, { metadata: {}, status: 'Success' });
  });

  it('reports a program that cannot start as an InternalError status, as the kubelet does', async () => {
    const result = await execIn(clients, NS, 'box', ['no-such-program']);
    assert.equal(result.stdout, '');
    assert.equal(result.status.status, 'Failure');
    assert.equal(result.status.reason, 'InternalError');
    assert.equal(result.status.code, 500);
    assert.match(result.status.message ?? '', /^Internal error occurred: error executing command in container: failed to exec in container: .*executable file not found in \$PATH/);
  });

  it('delivers stdin and its end (v5 close signal), so cat ends', async () => {
    const result = await execIn(clients, NS, 'box', ['sh', '-c', 'cat; echo done'], { stdin: 'hello\nworld\n' });
    assert.equal(result.stdout, 'hello\nworld\ndone\n');
    assert.equal(result.status.status, 'Success');
  });

  it('runs with a terminal of the size the client sends, and follows a resize', async () => {
    const stdout = terminal(100, 40);
    const stdin = new PassThrough();
    // Reads a line, then waits (bounded) until the terminal has the resized size.
    const script =
      'tty; for i in $(seq 50); do s=$(stty size); [ "$s" = "40 100" ] && break; sleep 0.1; done; echo "first $s"; ' +
      'read x; for i in $(seq 50); do s=$(stty size); [ "$s" = "50 120" ] && break; sleep 0.1; done; echo "second $s"';
    const pending = execIn(clients, NS, 'box', ['sh', '-c', script], { tty: true, stdout, stdin });
    let seen = '';
    stdout.on('data', (c: Buffer) => (seen += c.toString()));
    await pollUntilOrLast(() => seen, { what: '"first" from the program', until: (text) => text.includes('first'), timeoutMs: 20_000, intervalMs: 50 });
    stdout.columns = 120;
    stdout.rows = 50;
    stdout.emit('resize');
    stdin.write('go\n');
    const result = await pending;
    stdin.end();
    const lines = result.stdout.split('\r\n');
    assert.match(lines[0]!, /^\/dev\/pts\/\d+$/);
    assert.ok(lines.includes('first 40 100'), result.stdout);
    assert.ok(lines.includes('second 50 120'), result.stdout);
    assert.equal(result.status.status, 'Success');
  });

  it('speaks v4.channel.k8s.io to a client that offers only it', async () => {
    const url = `${server.url.replace('https', 'wss')}/api/v1/namespaces/${NS}/pods/box/exec?command=sh&command=-c&command=echo%20v4%3B%20exit%207&stdout=true&stderr=true`;
    const frames: Buffer[] = [];
    const ws = new WebSocket(url, ['v4.channel.k8s.io'], { ca: server.caPem, headers: { Authorization: `Bearer ${server.token}` } });
    ws.on('message', (data: Buffer) => frames.push(Buffer.from(data)));
    await new Promise<void>((resolve, reject) => {
      ws.on('close', () => resolve());
      ws.on('error', reject);
    });
    assert.equal(ws.protocol, 'v4.channel.k8s.io');
    const stdout = Buffer.concat(frames.filter((f) => f[0] === 1).map((f) => f.subarray(1))).toString();
    assert.equal(stdout, 'v4\n');
    const status = frames.find((f) => f[0] === 3);
    assert.ok(status, 'a status frame');
    const body = JSON.parse(status.subarray(1).toString()) as { reason: string; details: { causes: Array<{ message: string }> } };
    assert.equal(body.reason, 'NonZeroExitCode');
    assert.equal(body.details.causes[0]?.message, '7');
  });

  it('picks the named container of a two-container pod, and refuses a missing or unknown one', async () => {
    const pod = sessionPod('duo');
    pod.spec!.containers.push({ ...pod.spec!.containers[0]!, name: 'sidecar' });
    await clients.core.createNamespacedPod({ namespace: NS, body: pod });
    await watchPodUntil(clients, NS, 'duo', isRunning);
    const inSidecar = await execIn(clients, NS, 'duo', ['cat', '/etc/hostname'], { container: 'sidecar' });
    assert.equal(inSidecar.stdout, 'duo\n');
    assert.notEqual(server.containerIdOf(NS, 'duo', 'sidecar'), server.containerIdOf(NS, 'duo', 'shell'));
    const unnamed = await refusedUpgrade(server, `/api/v1/namespaces/${NS}/pods/duo/exec?command=true&stdout=true`);
    assert.equal(unnamed.code, 400);
    assert.equal(unnamed.body.message, 'a container name must be specified for pod duo, choose one of: [shell sidecar]');
    const unknown = await refusedUpgrade(server, `/api/v1/namespaces/${NS}/pods/duo/exec?command=true&stdout=true&container=nope`);
    assert.equal(unknown.code, 400);
    assert.equal(unknown.body.message, 'container nope is not valid for pod duo');
    const missing = await refusedUpgrade(server, `/api/v1/namespaces/${NS}/pods/ghost/exec?command=true&stdout=true`);
    assert.equal(missing.code, 404);
    assert.equal(missing.body.message, 'pods "ghost" not found');
    await clients.core.deleteNamespacedPod({ name: 'duo', namespace: NS, gracePeriodSeconds: 0 });
  });

  it('refuses exec with 403 when RBAC denies pods/exec', async () => {
    server.controls.deny('create', 'pods/exec');
    try {
      const response = await refusedUpgrade(server, `/api/v1/namespaces/${NS}/pods/box/exec?command=true&stdout=true`);
      assert.equal(response.code, 403);
      assert.deepEqual(response.body, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'pods "box" is forbidden: User "system:serviceaccount:portcullis:portcullis-gateway" cannot create resource "pods/exec" in API group "" in the namespace "exec"',
        reason: 'Forbidden',
        details: { name: 'box', kind: 'pods' },
        code: 403,
      });
      await assert.rejects(execIn(clients, NS, 'box', ['true']), /403/);
    } finally {
      server.controls.deny('create', 'pods/exec', false);
    }
  });
});
