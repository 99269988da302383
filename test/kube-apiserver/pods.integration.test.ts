import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { startKubeApiServer, type KubeApiServer } from './index.ts';
import { apiFailure, execIn, isRunning, kubeClients, sessionPod, watchPodUntil, type KubeClients } from './client.ts';
import { inspectContainer } from '../helpers/docker.ts';
import { pollUntilOrLast } from '../helpers/poll-until.ts';

const NS = 'sessions';

describe('test kube-apiserver: pods through @kubernetes/client-node', () => {
  let server: KubeApiServer;
  let clients: KubeClients;

  before(async () => {
    server = await startKubeApiServer({ namespaces: [NS] });
    clients = await kubeClients(server, NS);
  });
  after(async () => {
    await clients?.dispose();
    await server?.close();
    if (server) assert.deepEqual(await server.containerIds(), [], 'close() leaves no container of this server');
  });

  it('refuses a request without the bearer token with a 401 Status', async () => {
    const body = await new Promise<{ code: number; text: string }>((resolve, reject) => {
      const req = request(`${server.url}/api/v1/namespaces`, { ca: server.caPem }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(body.code, 401);
    assert.deepEqual(JSON.parse(body.text), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    });
  });

  it('serves an in-cluster client configured from service account files', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kubeapi-sa-'));
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    try {
      const { pathPrefix, env } = await server.writeServiceAccount(root, { namespace: NS });
      Object.assign(process.env, env);
      const kc = new k8s.KubeConfig();
      kc.loadFromCluster(pathPrefix);
      assert.equal(kc.getContextObject(kc.getCurrentContext())?.namespace, NS);
      const list = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace: NS });
      assert.equal(list.kind, 'PodList');
    } finally {
      for (const [key, value] of [
        ['KUBERNETES_SERVICE_HOST', saved.host],
        ['KUBERNETES_SERVICE_PORT', saved.port],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      await rm(root, { recursive: true, force: true });
    }
  });

  it('creates, reads and lists namespaces with their labels', async () => {
    const created = await clients.core.createNamespace({ body: { metadata: { name: 'team-a', labels: { team: 'a' } } } });
    assert.equal(created.status?.phase, 'Active');
    assert.equal(created.metadata?.labels?.['kubernetes.io/metadata.name'], 'team-a');
    const read = await clients.core.readNamespace({ name: 'team-a' });
    assert.equal(read.metadata?.uid, created.metadata?.uid);
    const list = await clients.core.listNamespace({ labelSelector: 'team=a' });
    assert.deepEqual(
      list.items.map((n) => n.metadata?.name),
      ['team-a'],
    );
    const missing = await apiFailure(clients.core.readNamespace({ name: 'nope' }));
    assert.equal(missing.code, 404);
    assert.equal(missing.body.message, 'namespaces "nope" not found');
  });

  it('answers NotFound, AlreadyExists and Invalid with the real Status bodies', async () => {
    const missing = await apiFailure(clients.core.readNamespacedPod({ name: 'x', namespace: NS }));
    assert.deepEqual(missing, {
      code: 404,
      body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'pods "x" not found', reason: 'NotFound', details: { name: 'x', kind: 'pods' }, code: 404 },
    });
    const invalid = await apiFailure(clients.core.createNamespacedPod({ namespace: NS, body: { metadata: { name: 'bad' }, spec: { containers: [{ name: 'c', image: '' }] } } }));
    assert.equal(invalid.code, 422);
    assert.equal(invalid.body.reason, 'Invalid');
    assert.equal(invalid.body.message, 'Pod "bad" is invalid: spec.containers[0].image: Required value');
    assert.deepEqual((invalid.body.details as { causes: unknown[] }).causes, [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers[0].image' }]);
    const wrongNs = await apiFailure(clients.core.createNamespacedPod({ namespace: 'absent', body: sessionPod('p') }));
    assert.equal(wrongNs.code, 404);
    assert.equal(wrongNs.body.message, 'namespaces "absent" not found');

    await clients.core.createNamespacedPod({ namespace: NS, body: sessionPod('dup') });
    const dup = await apiFailure(clients.core.createNamespacedPod({ namespace: NS, body: sessionPod('dup') }));
    assert.equal(dup.code, 409);
    assert.deepEqual(dup.body, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'pods "dup" already exists',
      reason: 'AlreadyExists',
      details: { name: 'dup', kind: 'pods' },
      code: 409,
    });
    await clients.core.deleteNamespacedPod({ name: 'dup', namespace: NS, gracePeriodSeconds: 0 });
  });

  it('runs a pod as a container: watch reaches Running, exec works, delete removes the container', async () => {
    const created = await clients.core.createNamespacedPod({ namespace: NS, body: sessionPod('web', {}, { app: 'portcullis' }) });
    assert.equal(created.status?.phase, 'Pending');
    assert.equal(created.spec?.restartPolicy, 'Never');
    const { last, seen } = await watchPodUntil(clients, NS, 'web', isRunning);
    assert.equal(last?.status?.phase, 'Running');
    const types = seen.map((e) => e.type);
    assert.equal(types[0], 'ADDED');
    assert.ok(types.includes('MODIFIED'));
    const ready = last?.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'True');
    assert.equal(last?.status?.containerStatuses?.[0]?.state?.running !== undefined, true);
    assert.match(last?.status?.containerStatuses?.[0]?.containerID ?? '', /^docker:\/\/[0-9a-f]{64}$/);

    const listed = await clients.core.listNamespacedPod({ namespace: NS, labelSelector: 'app=portcullis' });
    assert.deepEqual(
      listed.items.map((p) => p.metadata?.name),
      ['web'],
    );
    const byPhase = await clients.core.listNamespacedPod({ namespace: NS, fieldSelector: 'status.phase=Running,metadata.name=web' });
    assert.equal(byPhase.items.length, 1);

    const id = await execIn(clients, NS, 'web', ['id', '-u']);
    assert.equal(id.stdout, '1000\n');
    assert.equal(id.status.status, 'Success');

    const containerId = server.containerIdOf(NS, 'web')!;
    const inspected = await inspectContainer(containerId);
    assert.equal(inspected.HostConfig.NetworkMode, 'none');

    const deleted = await clients.core.deleteNamespacedPod({ name: 'web', namespace: NS });
    assert.equal(deleted.metadata?.name, 'web');
    await pollUntilOrLast(() => server.containerIds(), { what: `container ${containerId} removed`, until: (ids) => !ids.includes(containerId) });
    assert.ok(!(await server.containerIds()).includes(containerId), 'the container is removed');
    const gone = await apiFailure(clients.core.readNamespacedPod({ name: 'web', namespace: NS }));
    assert.equal(gone.code, 404);
  });

  it("keeps the create body as received, and serves a finished pod's log", async () => {
    const body = sessionPod('logger');
    body.spec!.containers[0]!.command = ['sh', '-c', 'echo line one; echo line two >&2'];
    await clients.core.createNamespacedPod({ namespace: NS, body });
    const received = server.received.filter((r) => r.resource === 'pods' && (r.body as { metadata?: { name?: string } }).metadata?.name === 'logger');
    assert.equal(received.length, 1);
    assert.deepEqual((received[0]!.body as { spec: unknown }).spec, JSON.parse(JSON.stringify(body.spec)));
    await watchPodUntil(clients, NS, 'logger', (p) => p.status?.phase === 'Succeeded');
    const log = await clients.core.readNamespacedPodLog({ name: 'logger', namespace: NS });
    // stdout and stderr are separate pipes, so their relative order is not fixed.
    assert.deepEqual(log.trim().split('\n').sort(), ['line one', 'line two']);
    await clients.core.deleteNamespacedPod({ name: 'logger', namespace: NS });
  });

  it('deletes gracefully: deletionTimestamp first, DELETED once the container is stopped', async () => {
    await clients.core.createNamespacedPod({ namespace: NS, body: sessionPod('graceful', { terminationGracePeriodSeconds: 30 }) });
    await watchPodUntil(clients, NS, 'graceful', isRunning);
    const containerId = server.containerIdOf(NS, 'graceful')!;
    const marked = await clients.core.deleteNamespacedPod({ name: 'graceful', namespace: NS, gracePeriodSeconds: 1 });
    assert.ok(marked.metadata?.deletionTimestamp, 'the answer carries deletionTimestamp');
    assert.equal(marked.metadata?.deletionGracePeriodSeconds, 1);
    const { seen } = await watchPodUntil(clients, NS, 'graceful', () => false);
    assert.equal(seen[seen.length - 1]?.type, 'DELETED');
    assert.ok(!(await server.containerIds()).includes(containerId), 'the container is gone once the pod is');
  });

  it('deleting a namespace deletes its pods and containers', async () => {
    await clients.core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await clients.core.createNamespacedPod({ namespace: 'doomed', body: sessionPod('inside') });
    await watchPodUntil(clients, 'doomed', 'inside', isRunning);
    const containerId = server.containerIdOf('doomed', 'inside')!;
    const terminating = await clients.core.deleteNamespace({ name: 'doomed' });
    assert.equal((terminating as k8s.V1Namespace).status?.phase, 'Terminating');
    const refused = await apiFailure(clients.core.createNamespacedPod({ namespace: 'doomed', body: sessionPod('late') }));
    assert.equal(refused.code, 403);
    assert.equal(refused.body.message, 'pods "late" is forbidden: unable to create new content in namespace doomed because it is being terminated');
    const gone = await pollUntilOrLast(async () => (await apiFailure(clients.core.readNamespace({ name: 'doomed' })).catch(() => undefined))?.code === 404, {
      what: 'namespace doomed removed',
      until: (removed) => removed,
    });
    assert.ok(gone, 'the namespace is removed');
    assert.ok(!(await server.containerIds()).includes(containerId));
  });

  it('patches labels with JSON patch and merge patch', async () => {
    await clients.core.createNamespacedPod({ namespace: NS, body: sessionPod('labelled', {}, { a: '1' }) });
    const jsonPatched = await clients.core.patchNamespacedPod({
      name: 'labelled',
      namespace: NS,
      body: [{ op: 'add', path: '/metadata/labels/b', value: '2' }],
    });
    assert.deepEqual(jsonPatched.metadata?.labels, { a: '1', b: '2' });
    const merged = await clients.core.patchNamespacedPod(
      { name: 'labelled', namespace: NS, body: { metadata: { labels: { a: null }, annotations: { note: 'x' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    assert.deepEqual(merged.metadata?.labels, { b: '2' });
    assert.deepEqual(merged.metadata?.annotations, { note: 'x' });
    await clients.core.deleteNamespacedPod({ name: 'labelled', namespace: NS, gracePeriodSeconds: 0 });
  });
});
