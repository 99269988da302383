import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Lease, V1Pod } from '@kubernetes/client-node';
import { createLogger } from '../../observability/index.ts';
import type { Cluster } from './cluster.ts';
import { LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_PERSISTENT, MANAGED_BY } from './pod-spec.ts';
import { PodReaper } from './pod-reaper.ts';

const pod = (name: string, instance: string, persistent = false): V1Pod => ({
  metadata: { name, labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_INSTANCE]: instance, ...(persistent ? { [LABEL_PERSISTENT]: 'true' } : {}) } },
});
const lease = (instance: string, version: string): V1Lease => ({
  metadata: { name: `portcullis-gateway-${instance}`, resourceVersion: version, labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_INSTANCE]: instance } },
  spec: { holderIdentity: instance },
});

/** The API calls the reaper makes, against an in-memory namespace. */
function fakeCluster(pods: V1Pod[], leases: V1Lease[]): { cluster: Cluster; deleted: string[]; deletedLeases: string[] } {
  const deleted: string[] = [];
  const deletedLeases: string[] = [];
  const cluster = {
    namespace: 'sessions',
    core: {
      listNamespacedPod: async () => ({ items: pods.filter((p) => !deleted.includes(p.metadata!.name!)) }),
      deleteNamespacedPod: async ({ name }: { name: string }) => void deleted.push(name),
    },
    coordination: {
      listNamespacedLease: async () => ({ items: leases.filter((l) => !deletedLeases.includes(l.metadata!.name!)) }),
      deleteNamespacedLease: async ({ name }: { name: string }) => void deletedLeases.push(name),
    },
  } as unknown as Cluster;
  return { cluster, deleted, deletedLeases };
}

test("pods of an instance whose lease stood still for the timeout are reaped, by this instance's clock", async () => {
  let now = 0;
  const leases = [lease('alive', '1'), lease('dead', '7')];
  const { cluster, deleted, deletedLeases } = fakeCluster([pod('a-1', 'alive'), pod('d-1', 'dead'), pod('d-persistent', 'dead', true), pod('mine-1', 'me'), pod('mine-stray', 'me')], leases);
  const reaper = new PodReaper(cluster, {
    instanceId: 'me',
    intervalMs: 1_000,
    heartbeatTimeoutMs: 20_000,
    requestTimeoutMs: 1_000,
    ownPods: new Set(['mine-1']),
    log: createLogger('fatal'),
    now: () => now,
  });
  assert.equal(await reaper.sweep(), 0, 'first sight: nothing is known to be dead, and a stray may still be starting');
  now = 10_000;
  leases[0] = lease('alive', '2'); // renewed
  assert.equal(await reaper.sweep(), 1);
  assert.deepEqual(deleted, ['mine-stray'], 'a pod of this instance it does not know, seen twice, is a stray');
  now = 25_000;
  leases[0] = lease('alive', '3');
  await reaper.sweep();
  assert.deepEqual(deleted, ['mine-stray', 'd-1'], 'the dead instance lost its session pod, never its persistent one');
  await reaper.sweep();
  assert.deepEqual(deletedLeases, ['portcullis-gateway-dead'], 'its lease goes once its pods are gone');
});

test('pods of an instance with no lease at all are reaped after the timeout too', async () => {
  let now = 0;
  const { cluster, deleted } = fakeCluster([pod('x-1', 'crashed-before-first-beat')], []);
  const reaper = new PodReaper(cluster, { instanceId: 'me', intervalMs: 1_000, heartbeatTimeoutMs: 5_000, requestTimeoutMs: 1_000, ownPods: new Set(), log: createLogger('fatal'), now: () => now });
  await reaper.sweep();
  now = 4_000;
  await reaper.sweep();
  assert.deepEqual(deleted, []);
  now = 5_000;
  await reaper.sweep();
  assert.deepEqual(deleted, ['x-1']);
});

test('an idle persistent pod goes after its timeout; one attached by a live instance stays, a dead instance attachment does not count', async () => {
  let now = 0;
  let wall = Date.parse('2026-01-01T10:00:00Z');
  const persistent = (name: string, annotations: Record<string, string>): V1Pod => ({
    metadata: { ...pod(name, 'creator', true).metadata, resourceVersion: '5', creationTimestamp: new Date('2026-01-01T09:00:00Z'), annotations },
    status: { phase: 'Running' },
  });
  const idle = { 'portcullis.io/idle-timeout-seconds': '60', 'portcullis.io/last-detach': '2026-01-01T09:59:30Z' };
  const leases = [lease('peer', '1'), lease('creator', '1')];
  const { cluster, deleted } = fakeCluster(
    [
      persistent('idle', idle),
      persistent('no-timeout', { 'portcullis.io/last-detach': '2026-01-01T09:00:00Z' }),
      persistent('peer-attached', { ...idle, 'attached.portcullis.io/peer': '1' }),
      persistent('ghost-attached', { ...idle, 'attached.portcullis.io/ghost': '2' }),
    ],
    leases,
  );
  const reaper = new PodReaper(cluster, {
    instanceId: 'me',
    intervalMs: 1_000,
    heartbeatTimeoutMs: 20_000,
    requestTimeoutMs: 1_000,
    ownPods: new Set(),
    log: createLogger('fatal'),
    now: () => now,
    wallClock: () => wall,
  });
  await reaper.sweep();
  assert.deepEqual(deleted, [], 'idle for 30 s of 60');
  wall += 31_000;
  now += 10_000;
  leases[0] = lease('peer', '2');
  leases[1] = lease('creator', '2');
  await reaper.sweep();
  assert.deepEqual(deleted, ['idle'], 'past its timeout; the ghost instance is not yet known to be dead');
  now += 20_000;
  leases[0] = lease('peer', '3');
  leases[1] = lease('creator', '3');
  await reaper.sweep();
  assert.deepEqual(deleted, ['idle', 'ghost-attached'], 'an attachment of an instance with no heartbeat expires; a live peer keeps its pod');
});
