import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startKubeApiServer, type KubeApiServer } from './index.ts';
import { apiFailure, execIn, isRunning, kubeClients, sessionPod, watchPodUntil, type KubeClients } from './client.ts';
import { pollUntilOrLast } from '../helpers/poll-until.ts';

const NS = 'failures';

const waitingReason = (reason: string) => (p: { status?: { containerStatuses?: Array<{ state?: { waiting?: { reason?: string } } }> } }) =>
  p.status?.containerStatuses?.[0]?.state?.waiting?.reason === reason;

describe('test kube-apiserver: the failures a gateway must map', () => {
  let server: KubeApiServer;
  let clients: KubeClients;

  before(async () => {
    server = await startKubeApiServer({ namespaces: [NS], node: { capacity: { memory: '1Gi', cpu: '2' } }, imagePullBackOffMs: 200 });
    clients = await kubeClients(server, NS);
  });
  after(async () => {
    await clients?.dispose();
    await server?.close();
    if (server) assert.deepEqual(await server.containerIds(), []);
  });

  it('enforces a ResourceQuota on the pod count with the real 403 message, and frees it on delete', async () => {
    await clients.core.createNamespace({ body: { metadata: { name: 'quota' } } });
    await clients.core.createNamespacedResourceQuota({ namespace: 'quota', body: { metadata: { name: 'session-pods' }, spec: { hard: { pods: '2' } } } });
    await clients.core.createNamespacedPod({ namespace: 'quota', body: sessionPod('q1') });
    await clients.core.createNamespacedPod({ namespace: 'quota', body: sessionPod('q2') });
    const refused = await apiFailure(clients.core.createNamespacedPod({ namespace: 'quota', body: sessionPod('q3') }));
    assert.equal(refused.code, 403);
    assert.deepEqual(refused.body, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'pods "q3" is forbidden: exceeded quota: session-pods, requested: pods=1, used: pods=2, limited: pods=2',
      reason: 'Forbidden',
      details: { name: 'q3', kind: 'pods' },
      code: 403,
    });
    const quota = await clients.core.readNamespacedResourceQuota({ name: 'session-pods', namespace: 'quota' });
    assert.deepEqual(JSON.parse(JSON.stringify(quota.status)), { hard: { pods: '2' }, used: { pods: '2' } });
    await clients.core.deleteNamespacedPod({ name: 'q1', namespace: 'quota', gracePeriodSeconds: 0 });
    await clients.core.createNamespacedPod({ namespace: 'quota', body: sessionPod('q3') });
    const listed = await clients.core.listNamespacedResourceQuota({ namespace: 'quota' });
    assert.deepEqual(
      listed.items.map((q) => q.metadata?.name),
      ['session-pods'],
    );
    await clients.core.deleteNamespace({ name: 'quota' });
  });

  it('never pulls: an absent image goes ErrImagePull then ImagePullBackOff and the pod stays Pending', async () => {
    const pod = sessionPod('nopull');
    pod.spec!.containers[0]!.image = 'registry.invalid/portcullis/absent:1.0';
    await clients.core.createNamespacedPod({ namespace: NS, body: pod });
    const { seen, last } = await watchPodUntil(clients, NS, 'nopull', waitingReason('ImagePullBackOff'));
    assert.ok(
      seen.some((e) => waitingReason('ErrImagePull')(e.pod)),
      'ErrImagePull came first',
    );
    assert.equal(last?.status?.phase, 'Pending');
    assert.equal(last?.status?.containerStatuses?.[0]?.state?.waiting?.message, 'Back-off pulling image "registry.invalid/portcullis/absent:1.0"');
    const events = await clients.core.listNamespacedEvent({ namespace: NS, fieldSelector: 'involvedObject.name=nopull' });
    assert.ok(events.items.some((e) => e.reason === 'Failed' && e.message === 'Error: ErrImagePull'));
    assert.equal(server.containerIdOf(NS, 'nopull'), undefined);
    await clients.core.deleteNamespacedPod({ name: 'nopull', namespace: NS });
  });

  it('treats a present image as unpullable when told to', async () => {
    server.controls.setUnpullable('portcullis/session:dev');
    try {
      await clients.core.createNamespacedPod({ namespace: NS, body: sessionPod('forced') });
      const { last } = await watchPodUntil(clients, NS, 'forced', waitingReason('ImagePullBackOff'));
      assert.equal(last?.status?.phase, 'Pending');
    } finally {
      server.controls.setUnpullable('portcullis/session:dev', false);
    }
    await clients.core.deleteNamespacedPod({ name: 'forced', namespace: NS });
  });

  it('leaves a pod that does not fit Unschedulable with the scheduler message', async () => {
    const big = sessionPod('big');
    big.spec!.containers[0]!.resources = { requests: { memory: '2Gi' }, limits: { memory: '2Gi' } };
    await clients.core.createNamespacedPod({ namespace: NS, body: big });
    const unschedulable = (p: { status?: { conditions?: Array<{ type: string; status: string; reason?: string }> } }) =>
      p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable') ?? false;
    const { last } = await watchPodUntil(clients, NS, 'big', unschedulable);
    const condition = last?.status?.conditions?.find((c) => c.type === 'PodScheduled');
    assert.equal(condition?.message, '0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.');
    assert.equal(last?.status?.phase, 'Pending');
    assert.equal(last?.spec?.nodeName, undefined);

    const picky = sessionPod('picky', { nodeSelector: { disktype: 'ssd' } });
    await clients.core.createNamespacedPod({ namespace: NS, body: picky });
    const p = await watchPodUntil(clients, NS, 'picky', unschedulable);
    assert.match(p.last?.status?.conditions?.find((c) => c.type === 'PodScheduled')?.message ?? '', /^0\/1 nodes are available: 1 node\(s\) didn't match Pod's node affinity\/selector\./);

    // More room or a matching label, and the waiting pod is scheduled.
    server.controls.setNodeLabels({ disktype: 'ssd' });
    await clients.core.deleteNamespacedPod({ name: 'big', namespace: NS });
    await watchPodUntil(clients, NS, 'picky', isRunning);
    await clients.core.deleteNamespacedPod({ name: 'picky', namespace: NS, gracePeriodSeconds: 0 });
  });

  it('answers a denying admission webhook with its 403', async () => {
    server.controls.setAdmissionWebhook({
      name: 'session-policy.example.com',
      review: (pod) => (pod.metadata.labels?.team === 'red' ? 'team red may not start sessions' : undefined),
    });
    try {
      const denied = await apiFailure(clients.core.createNamespacedPod({ namespace: NS, body: sessionPod('red', {}, { team: 'red' }) }));
      assert.equal(denied.code, 403);
      assert.equal(denied.body.message, 'admission webhook "session-policy.example.com" denied the request: team red may not start sessions');
      assert.equal(denied.body.reason, 'Forbidden');
      const allowed = await clients.core.createNamespacedPod({ namespace: NS, body: sessionPod('blue', {}, { team: 'blue' }), dryRun: 'All' });
      assert.equal(allowed.metadata?.name, 'blue');
    } finally {
      server.controls.setAdmissionWebhook(undefined);
    }
  });

  it('keeps a pod in ContainerCreating for the configured start delay', async () => {
    server.controls.setStartDelay(1500);
    try {
      await clients.core.createNamespacedPod({ namespace: NS, body: sessionPod('slow') });
      const { seen } = await watchPodUntil(clients, NS, 'slow', isRunning);
      assert.ok(
        seen.some((e) => waitingReason('ContainerCreating')(e.pod)),
        'ContainerCreating was reported before Running',
      );
    } finally {
      server.controls.setStartDelay(0);
    }
    await clients.core.deleteNamespacedPod({ name: 'slow', namespace: NS, gracePeriodSeconds: 0 });
  });

  it('ends open watches on request, and answers slowly when told to', async () => {
    let ended = false;
    await clients.watch.watch(
      `/api/v1/namespaces/${NS}/pods`,
      {},
      () => undefined,
      () => (ended = true),
    );
    server.controls.dropWatches();
    await pollUntilOrLast(() => ended, { what: 'the watch to end', until: (done) => done, timeoutMs: 10_000, intervalMs: 20 });
    assert.ok(ended, 'the watch saw the server close it');

    server.controls.setResponseDelay(300);
    try {
      const started = Date.now();
      await clients.core.listNamespacedPod({ namespace: NS });
      // A lower bound only (timers may fire a millisecond early): the answer waited for the delay.
      assert.ok(Date.now() - started >= 250, 'the answer waited for the configured delay');
    } finally {
      server.controls.setResponseDelay(0);
    }
  });

  it('becomes unreachable and comes back on the same address; pods keep running', async () => {
    await clients.core.createNamespacedPod({ namespace: NS, body: sessionPod('survivor') });
    await watchPodUntil(clients, NS, 'survivor', isRunning);
    await server.controls.stopListening();
    await assert.rejects(clients.core.readNamespacedPod({ name: 'survivor', namespace: NS }), /ECONNREFUSED/);
    await server.controls.startListening();
    const pod = await clients.core.readNamespacedPod({ name: 'survivor', namespace: NS });
    assert.equal(pod.status?.phase, 'Running');
    const result = await execIn(clients, NS, 'survivor', ['echo', 'still here']);
    assert.equal(result.stdout, 'still here\n');
    await clients.core.deleteNamespacedPod({ name: 'survivor', namespace: NS, gracePeriodSeconds: 0 });
  });
});
