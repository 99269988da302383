import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { apiFailure, sessionPod, serverForSuite } from './client.ts';
import { pollUntil } from '../helpers/poll-until.ts';

const NS = 'leases';

describe('test kube-apiserver: leases, informers and watch semantics', () => {
  const suite = serverForSuite(NS);

  it('creates, reads, lists, updates with optimistic concurrency, patches and deletes a Lease', async () => {
    const created = await suite.clients.coordination.createNamespacedLease({
      namespace: NS,
      body: { metadata: { name: 'gateway-a', labels: { app: 'portcullis' } }, spec: { holderIdentity: 'a', leaseDurationSeconds: 30, renewTime: new k8s.V1MicroTime() } },
    });
    assert.equal(created.spec?.holderIdentity, 'a');
    const read = await suite.clients.coordination.readNamespacedLease({ name: 'gateway-a', namespace: NS });
    assert.equal(read.metadata?.resourceVersion, created.metadata?.resourceVersion);
    const list = await suite.clients.coordination.listNamespacedLease({ namespace: NS, labelSelector: 'app=portcullis' });
    assert.deepEqual(
      list.items.map((l) => l.metadata?.name),
      ['gateway-a'],
    );

    const renewed = await suite.clients.coordination.replaceNamespacedLease({
      name: 'gateway-a',
      namespace: NS,
      body: { ...read, spec: { ...read.spec, renewTime: new k8s.V1MicroTime() } },
    });
    assert.notEqual(renewed.metadata?.resourceVersion, read.metadata?.resourceVersion);
    const stale = await apiFailure(suite.clients.coordination.replaceNamespacedLease({ name: 'gateway-a', namespace: NS, body: read }));
    assert.deepEqual(stale, {
      code: 409,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'Operation cannot be fulfilled on leases.coordination.k8s.io "gateway-a": the object has been modified; please apply your changes to the latest version and try again',
        reason: 'Conflict',
        details: { name: 'gateway-a', group: 'coordination.k8s.io', kind: 'leases' },
        code: 409,
      },
    });
    const patched = await suite.clients.coordination.patchNamespacedLease(
      { name: 'gateway-a', namespace: NS, body: { spec: { holderIdentity: 'b' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    assert.equal(patched.spec?.holderIdentity, 'b');
    assert.equal(patched.spec?.leaseDurationSeconds, 30);

    const deleted = await suite.clients.coordination.deleteNamespacedLease({ name: 'gateway-a', namespace: NS });
    assert.equal(deleted.status, 'Success');
    const gone = await apiFailure(suite.clients.coordination.readNamespacedLease({ name: 'gateway-a', namespace: NS }));
    assert.equal(gone.code, 404);
    assert.equal(gone.body.message, 'leases.coordination.k8s.io "gateway-a" not found');
  });

  it('pages a list with limit and continue', async () => {
    for (const name of ['page-a', 'page-b', 'page-c']) {
      await suite.clients.coordination.createNamespacedLease({ namespace: NS, body: { metadata: { name, labels: { paged: 'yes' } }, spec: { holderIdentity: name } } });
    }
    const first = await suite.clients.coordination.listNamespacedLease({ namespace: NS, labelSelector: 'paged=yes', limit: 2 });
    assert.deepEqual(
      first.items.map((l) => l.metadata?.name),
      ['page-a', 'page-b'],
    );
    assert.equal(first.metadata?.remainingItemCount, 1);
    assert.ok(first.metadata?._continue, 'a continue token');
    const second = await suite.clients.coordination.listNamespacedLease({ namespace: NS, labelSelector: 'paged=yes', limit: 2, _continue: first.metadata._continue });
    assert.deepEqual(
      second.items.map((l) => l.metadata?.name),
      ['page-c'],
    );
    assert.equal(second.metadata?._continue, undefined);
    await suite.clients.coordination.deleteCollectionNamespacedLease({ namespace: NS, labelSelector: 'paged=yes' });
    const left = await suite.clients.coordination.listNamespacedLease({ namespace: NS, labelSelector: 'paged=yes' });
    assert.deepEqual(left.items, []);
  });

  it('feeds a client-node informer: add, update, delete', async () => {
    const seen: string[] = [];
    const informer = k8s.makeInformer(suite.clients.kc, `/api/v1/namespaces/${NS}/pods`, () => suite.clients.core.listNamespacedPod({ namespace: NS, labelSelector: 'informed=yes' }), 'informed=yes');
    informer.on('add', (p) => seen.push(`add ${p.metadata?.name}`));
    informer.on('update', (p) => seen.push(`update ${p.metadata?.name} ${p.metadata?.labels?.round ?? ''}`));
    informer.on('delete', (p) => seen.push(`delete ${p.metadata?.name}`));
    await informer.start();
    try {
      await suite.clients.core.createNamespacedPod({ namespace: NS, body: sessionPod('inf', {}, { informed: 'yes' }) });
      await pollUntil(() => seen.includes('add inf'), { what: 'add', intervalMs: 20 });
      await suite.clients.core.patchNamespacedPod({ name: 'inf', namespace: NS, body: [{ op: 'add', path: '/metadata/labels/round', value: 'two' }] });
      await pollUntil(() => seen.includes('update inf two'), { what: 'update', intervalMs: 20 });
      await suite.clients.core.deleteNamespacedPod({ name: 'inf', namespace: NS, gracePeriodSeconds: 0 });
      await pollUntil(() => seen.includes('delete inf'), { what: 'delete', intervalMs: 20 });
    } finally {
      await informer.stop();
    }
  });

  it('turns a label change out of a watched selector into DELETED, and resumes from a resourceVersion', async () => {
    const created = await suite.clients.core.createNamespacedPod({ namespace: NS, body: sessionPod('moving', {}, { watched: 'yes' }) });
    const events: string[] = [];
    const controller = await suite.clients.watch.watch(
      `/api/v1/namespaces/${NS}/pods`,
      { labelSelector: 'watched=yes', resourceVersion: created.metadata?.resourceVersion },
      (type, obj: k8s.V1Pod) => events.push(`${type} ${obj.metadata?.name}`),
      () => undefined,
    );
    try {
      await suite.clients.core.patchNamespacedPod({ name: 'moving', namespace: NS, body: [{ op: 'replace', path: '/metadata/labels/watched', value: 'no' }] });
      await pollUntil(() => events.includes('DELETED moving'), { what: 'DELETED on leaving the selector', intervalMs: 20 });
      assert.ok(!events.includes('ADDED moving'), 'resuming after the create does not replay it');
    } finally {
      controller.abort();
    }
    await suite.clients.core.deleteNamespacedPod({ name: 'moving', namespace: NS, gracePeriodSeconds: 0 });
  });

  it('answers a watch from a compacted resourceVersion with a 410 Expired ERROR event', async () => {
    const list = await suite.clients.core.listNamespacedPod({ namespace: NS });
    const old = list.metadata?.resourceVersion;
    await suite.clients.core.createNamespacedPod({ namespace: NS, body: sessionPod('later') });
    suite.server.controls.compactHistory();
    const events: Array<{ type: string; obj: { code?: number; reason?: string } }> = [];
    let ended = false;
    await suite.clients.watch.watch(
      `/api/v1/namespaces/${NS}/pods`,
      { resourceVersion: old },
      (type, obj: { code?: number; reason?: string }) => events.push({ type, obj }),
      () => (ended = true),
    );
    await pollUntil(() => ended, { what: 'the watch to end', intervalMs: 20 });
    assert.equal(events.length, 1);
    assert.equal(events[0]?.type, 'ERROR');
    assert.equal(events[0]?.obj.code, 410);
    assert.equal(events[0]?.obj.reason, 'Expired');
    await suite.clients.core.deleteNamespacedPod({ name: 'later', namespace: NS, gracePeriodSeconds: 0 });
  });
});
