import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { isGatewayError } from '../../errors.ts';
import { createLogger } from '../../observability/index.ts';
import type { Cluster } from './cluster.ts';
import { PersistentAttachments } from './persistent-attachments.ts';

type Annotations = Record<string, string | null>;

/** Records each merge patch of a pod's annotations; `fail` makes the next patches throw. */
function fakeCluster() {
  const patches: { name: string; annotations: Annotations }[] = [];
  const state = { fail: false };
  const cluster = {
    namespace: 'sessions',
    core: {
      patchNamespacedPod: async ({ name, body }: { name: string; body: { metadata: { annotations: Annotations } } }) => {
        await new Promise((resolve) => setImmediate(resolve));
        if (state.fail) throw Object.assign(new Error('forbidden'), { code: 403 });
        patches.push({ name, annotations: body.metadata.annotations });
        return {};
      },
    },
  } as unknown as Cluster;
  return { cluster, patches, state };
}

const KEY = 'attached.portcullis.io/me';

test('each instance writes only its own count, in order, and removes its key when its last connection leaves', async () => {
  const { cluster, patches } = fakeCluster();
  const attachments = new PersistentAttachments({ cluster, instanceId: 'me', requestTimeoutMs: 1_000, log: createLogger('fatal') });
  const first = attachments.begin('home', 60_000);
  assert.equal(first.annotations[KEY], '1', 'a pod created by this connection starts attached');
  assert.equal(first.annotations['portcullis.io/idle-timeout-seconds'], '60');
  const second = attachments.begin('home', undefined);
  await Promise.all([first.record(), second.record()]);
  assert.deepEqual(
    patches.map((patch) => patch.annotations[KEY]),
    ['2', '2'],
  );
  assert.equal(patches[1]?.annotations['portcullis.io/idle-timeout-seconds'], null, 'the latest config (no timeout) wins');
  await first.release();
  await first.release();
  assert.equal(attachments.holds('home'), true, 'a second release of the same connection counts once');
  await second.release();
  assert.equal(attachments.holds('home'), false);
  assert.deepEqual(
    patches.slice(2).map((patch) => patch.annotations[KEY]),
    ['1', null],
  );
  assert.ok(patches.at(-1)?.annotations['portcullis.io/last-detach']);
  assert.ok(patches.every((patch) => Object.keys(patch.annotations).every((key) => !key.startsWith('attached.') || key === KEY)));
});

test('an attachment that cannot be written is a refusal; a detach that failed is repaired by reconcile', async () => {
  const { cluster, patches, state } = fakeCluster();
  const attachments = new PersistentAttachments({ cluster, instanceId: 'me', requestTimeoutMs: 1_000, log: createLogger('fatal') });
  state.fail = true;
  const refused = attachments.begin('home', undefined);
  await assert.rejects(refused.record(), (error: unknown) => isGatewayError(error) && error.code === 'KUBERNETES_PERSISTENT_POD_ATTACH_FAILED');
  await refused.release();
  assert.equal(attachments.holds('home'), false);
  assert.equal(patches.length, 0);
  state.fail = false;
  const pod = (annotations: Record<string, string>): V1Pod => ({ metadata: { name: 'home', labels: { 'portcullis.io/persistent': 'true' }, annotations } });
  await attachments.reconcile([pod({ [KEY]: '1' })]);
  assert.deepEqual(
    patches.map((patch) => patch.annotations[KEY]),
    [null],
    'the stale count on the pod is removed',
  );
  await attachments.reconcile([pod({})]);
  assert.equal(patches.length, 1, 'nothing to repair');
});
