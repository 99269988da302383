import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hardenedPod, worldWithPod, type KubeWorld } from '../helpers/kubernetes.ts';
import { openSharedConnection, runSsh } from '../helpers/ssh-client.ts';
import { E2E } from '../helpers/deadlines.ts';

const login = ({ world }: KubeWorld, command: string, stdin?: string) =>
  runSsh({ port: world.sshPort, username: world.username, password: world.password, command, ...(stdin !== undefined ? { stdin } : {}) });

const share = ({ world }: KubeWorld) => openSharedConnection({ port: world.sshPort, username: world.username, password: world.password });

describe('Kubernetes backend modes', () => {
  test('connection mode: a shell in the pod, stdin EOF, exit codes, stderr apart; two sessions share one pod; deleted at the end', E2E, async (t) => {
    const kube = await worldWithPod(t, hardenedPod({ mode: 'connection' }));
    const piped = await login(kube, 'cat; echo oops >&2; exit 3', 'through stdin\n');
    assert.equal(piped.code, 3, piped.stderr);
    assert.equal(piped.stdout, 'through stdin\n');
    assert.match(piped.stderr, /oops/);
    assert.match(piped.stderr, /Creating your session pod/, 'progress lines reach the client');

    const connection = await share(kube);
    t.after(() => connection.close());
    const first = await connection.run('cat /etc/hostname; id -u; echo shared > /tmp/mark');
    const second = await connection.run('cat /etc/hostname; cat /tmp/mark');
    assert.equal(first.code, 0, first.stderr);
    const [host, uid] = first.stdout.split('\n');
    assert.equal(uid, '1000', 'runs as the pod securityContext user');
    assert.equal(second.stdout, `${host}\nshared\n`);
    assert.equal(kube.sessionPods().length, 1, 'one pod for the connection');
    const created = kube.kube.received.filter((entry) => entry.resource === 'pods');
    assert.ok(created.length >= 1);
    await connection.close();
    assert.deepEqual(await kube.waitForNoPods(), []);
  });

  test('a terminal: tty with the window size sent on the resize channel', E2E, async (t) => {
    const kube = await worldWithPod(t, hardenedPod());
    // The size may land a moment after the program started (the runtime applies it to a running exec): poll, bounded.
    const command = 'for i in $(seq 1 50); do s=$(stty size); [ "$s" != "0 0" ] && break; sleep 0.1; done; echo "$s"; tty';
    const result = await runSsh({ port: kube.world.sshPort, username: kube.world.username, password: kube.world.password, command, tty: true });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^24 80\r?\n\/dev\/pts\/\d+/m);
  });

  test('session mode: each session gets its own pod, deleted when the session ends', E2E, async (t) => {
    const kube = await worldWithPod(t, hardenedPod({ mode: 'session' }));
    const connection = await share(kube);
    t.after(() => connection.close());
    const first = await connection.run('cat /etc/hostname; echo first > /tmp/mark');
    const second = await connection.run('cat /etc/hostname; cat /tmp/mark 2>/dev/null || echo no-mark');
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /Creating your session pod/, 'each session sees its own pod start');
    const [firstHost] = first.stdout.split('\n');
    const [secondHost, mark] = second.stdout.split('\n');
    assert.notEqual(secondHost, firstHost, 'a second pod');
    assert.equal(mark, 'no-mark', 'nothing carried over from the first session');
    const podsCreated = new Set(kube.kube.received.filter((entry) => entry.resource === 'pods').map((entry) => (entry.body as { metadata: { name: string } }).metadata.name));
    assert.equal(podsCreated.size, 2);
    // Both sessions ended while the connection is still open: their pods are gone.
    assert.deepEqual(await kube.waitForNoPods(), []);
  });

  test('persistent mode: refused when missing, created with createMissingPods, the same pod on the next connection, never deleted', E2E, async (t) => {
    const podName = `persistent-${process.pid}`;
    const kube = await worldWithPod(t, hardenedPod({ mode: 'persistent', podName }));
    const missing = await login(kube, 'true');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /your persistent pod does not exist.*KUBERNETES_PERSISTENT_POD_MISSING/);
    assert.deepEqual(kube.sessionPods(), []);

    kube.setPod(hardenedPod({ mode: 'persistent', podName, createMissingPods: true }));
    const created = await login(kube, 'echo kept > /tmp/mark; cat /etc/hostname');
    assert.equal(created.code, 0, created.stderr);
    const again = await login(kube, 'cat /tmp/mark; cat /etc/hostname');
    assert.equal(again.stdout, `kept\n${created.stdout}`);
    assert.deepEqual(kube.sessionPods(), [podName], 'the persistent pod outlives its connections');
    const labels = kube.kube.pods().find((pod) => pod.metadata.name === podName)?.metadata.labels ?? {};
    assert.equal(labels['portcullis.io/persistent'], 'true');
  });

  test('the pod the API server got is the configured spec plus only the ownership labels, in the session namespace', E2E, async (t) => {
    const pod = hardenedPod();
    const kube = await worldWithPod(t, pod);
    const result = await login(kube, 'true');
    assert.equal(result.code, 0, result.stderr);
    const body = kube.kube.received.find((entry) => entry.resource === 'pods')?.body as { metadata: { namespace: string; labels: Record<string, string> }; spec: unknown };
    assert.equal(body.metadata.namespace, 'portcullis-sessions');
    assert.deepEqual(body.spec, (pod as { spec: unknown }).spec);
    assert.deepEqual(Object.keys(body.metadata.labels).sort(), ['app.kubernetes.io/managed-by', 'containerssh.io/session', 'portcullis.io/connection', 'portcullis.io/instance']);
    assert.equal(body.metadata.labels['portcullis.io/instance'], kube.world.instanceId);
    assert.equal(body.metadata.labels['app.kubernetes.io/managed-by'], 'portcullis-gateway');
  });

  test('in-cluster credentials: the service-account token file and CA reach the API server', E2E, async (t) => {
    const kube = await worldWithPod(t, hardenedPod(), { credentials: 'inCluster' });
    const result = await login(kube, 'echo in-cluster');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'in-cluster\n');
    assert.deepEqual(await kube.waitForNoPods(), []);
  });
});
