import type { V1Lease, V1Pod } from '@kubernetes/client-node';
import { errorFields, type Logger } from '../../observability/index.ts';
import { describeApiFailure, isNotFound, withDeadline } from './api-errors.ts';
import type { Cluster } from './cluster.ts';
import { leaseName } from './heartbeat.ts';
import type { PersistentAttachments } from './persistent-attachments.ts';
import { deletePod } from './pod-lifecycle.ts';
import { ANNOTATION_ATTACHED_PREFIX, ANNOTATION_IDLE_TIMEOUT, ANNOTATION_LAST_ATTACH, ANNOTATION_LAST_DETACH, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_PERSISTENT, MANAGED_BY } from './pod-spec.ts';

export interface PodReaperOptions {
  readonly instanceId: string;
  readonly intervalMs: number;
  /** A peer's Lease unchanged this long, by this instance's own clock, means the peer died. */
  readonly heartbeatTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly log: Logger;
  /** Pods this instance is starting or using now; any other pod with its id is a stray. */
  readonly ownPods: ReadonlySet<string>;
  /** Monotonic milliseconds (tests move it by hand). */
  readonly now?: () => number;
  /** This instance's hold on persistent pods; its counts on the pods are repaired each sweep. */
  readonly attachments?: PersistentAttachments;
  /** Wall-clock milliseconds, for the idle time of persistent pods (their annotations are timestamps). */
  readonly wallClock?: () => number;
}

/** What the reaper last saw of each instance's Lease, and since when (local monotonic clock). */
interface Observation {
  readonly version: string;
  readonly since: number;
}

/**
 * Deletes the pods no gateway owns any more, whichever instance runs it:
 *  - pods of an instance whose Lease has not changed for `heartbeatTimeoutMs` (or has been
 *    missing that long): its gateway died, even by `kill -9`;
 *  - pods labelled with this instance that it does not know (a create whose answer was lost),
 *    once seen on two sweeps in a row.
 * Expiry is judged by how long this instance has watched a Lease stand still, never by comparing
 * the writer's clock with ours, so clock skew between gateways cannot reap a live instance's pods.
 * Persistent pods outlive connections and gateways by design. One is deleted only when it carries
 * an idle timeout (`portcullis.io/idle-timeout-seconds`), no live instance has a session attached
 * (an attachment of an instance whose Lease expired does not count), and its last attach or detach
 * is longer ago than the timeout. The delete names the resourceVersion the reaper judged, so an
 * attach written in between makes it fail instead of deleting a pod in use.
 */
export class PodReaper {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;
  private readonly observed = new Map<string, Observation>();
  private strays = new Set<string>();
  private readonly now: () => number;

  constructor(
    private readonly cluster: Cluster,
    private readonly options: PodReaperOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
  }

  start(): void {
    void this.sweep();
    this.timer = setInterval(() => void this.sweep(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass; resolves with how many pods it deleted. Never throws. */
  sweep(): Promise<number> {
    this.sweeping ??= this.sweepOnce().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<number> {
    const { log, requestTimeoutMs, instanceId } = this.options;
    const namespace = this.cluster.namespace;
    let removed = 0;
    try {
      const selector = `${LABEL_MANAGED_BY}=${MANAGED_BY},${LABEL_INSTANCE}`;
      const [pods, leases] = await Promise.all([
        withDeadline(this.cluster.core.listNamespacedPod({ namespace, labelSelector: selector }), requestTimeoutMs, 'list pods'),
        withDeadline(this.cluster.coordination.listNamespacedLease({ namespace, labelSelector: selector }), requestTimeoutMs, 'list leases'),
      ]);
      const dead = this.deadInstances(pods.items, leases.items);
      const strays = new Set<string>();
      for (const pod of pods.items) {
        const name = pod.metadata?.name;
        const owner = pod.metadata?.labels?.[LABEL_INSTANCE];
        if (!name || !owner || pod.metadata?.deletionTimestamp) continue;
        if (pod.metadata?.labels?.[LABEL_PERSISTENT] === 'true') {
          if (await this.reapIdle(pod, dead)) removed += 1;
          continue;
        }
        let why: string | undefined;
        if (owner === instanceId) {
          if (this.options.ownPods.has(name)) continue;
          strays.add(name);
          // Seen on the previous sweep too: no start of ours is still creating it.
          if (this.strays.has(name)) why = 'stray of this instance';
        } else if (dead.has(owner)) {
          why = 'its gateway instance stopped renewing its heartbeat';
        }
        if (!why) continue;
        await deletePod({ cluster: this.cluster, requestTimeoutMs, log }, name);
        removed += 1;
        log.info({ code: 'KUBERNETES_POD_REAPED', pod: name, owner, why }, 'abandoned pod deleted');
      }
      this.strays = strays;
      await this.options.attachments?.reconcile(pods.items);
      await this.forgetLeases(dead, pods.items, leases.items);
    } catch (error) {
      log.warn({ code: 'KUBERNETES_REAPER_FAILED', ...errorFields(error) }, 'reaper pass failed');
    }
    return removed;
  }

  /** Instances other than this one whose Lease stood still (or stayed missing) for the heartbeat timeout. */
  private deadInstances(pods: V1Pod[], leases: V1Lease[]): Set<string> {
    const now = this.now();
    const versions = new Map<string, string>();
    for (const lease of leases) {
      const owner = lease.metadata?.labels?.[LABEL_INSTANCE];
      if (owner) versions.set(owner, `${lease.metadata?.resourceVersion}/${String(lease.spec?.renewTime ?? '')}`);
    }
    const instances = new Set([
      ...versions.keys(),
      ...pods.map((pod) => pod.metadata?.labels?.[LABEL_INSTANCE]).filter((id): id is string => !!id),
      // Instances attached to a persistent pod are watched too, so a crashed one's attachment expires.
      ...pods.flatMap((pod) => [...attachedInstances(pod).keys()]),
    ]);
    instances.delete(this.options.instanceId);
    const dead = new Set<string>();
    for (const instance of instances) {
      const version = versions.get(instance) ?? 'missing';
      const seen = this.observed.get(instance);
      if (!seen || seen.version !== version) this.observed.set(instance, { version, since: now });
      else if (now - seen.since >= this.options.heartbeatTimeoutMs) dead.add(instance);
    }
    for (const instance of this.observed.keys()) if (!instances.has(instance)) this.observed.delete(instance);
    return dead;
  }

  /** Deletes an idle persistent pod whose timeout passed; true when it did. */
  private async reapIdle(pod: V1Pod, dead: ReadonlySet<string>): Promise<boolean> {
    const { log, requestTimeoutMs, instanceId, attachments } = this.options;
    const name = pod.metadata!.name!;
    const timeoutSeconds = Number(pod.metadata?.annotations?.[ANNOTATION_IDLE_TIMEOUT]);
    // Pending: its start is still someone's to finish (or to fail and delete).
    if (!(timeoutSeconds > 0) || pod.status?.phase === 'Pending' || attachments?.holds(name)) return false;
    for (const [instance, count] of attachedInstances(pod)) {
      if (count > 0 && (instance === instanceId || !dead.has(instance))) return false;
    }
    const annotations = pod.metadata?.annotations ?? {};
    const times = [annotations[ANNOTATION_LAST_ATTACH], annotations[ANNOTATION_LAST_DETACH], pod.metadata?.creationTimestamp]
      .map((time) => (time === undefined ? Number.NaN : new Date(time).getTime()))
      .filter((time) => Number.isFinite(time));
    const idleMs = (this.options.wallClock ?? Date.now)() - Math.max(...times);
    if (times.length === 0 || idleMs < timeoutSeconds * 1000) return false;
    try {
      await withDeadline(
        this.cluster.core.deleteNamespacedPod({
          name,
          namespace: this.cluster.namespace,
          gracePeriodSeconds: 1,
          body: { preconditions: { resourceVersion: pod.metadata?.resourceVersion } },
        }),
        requestTimeoutMs,
        'delete pod',
      );
    } catch (error) {
      // 409: attached (or changed) since the list; 404: someone else deleted it.
      if (isNotFound(error) || describeApiFailure(error).status === 409) return false;
      throw error;
    }
    log.info({ code: 'KUBERNETES_PERSISTENT_POD_EXPIRED', pod: name, idleSeconds: Math.round(idleMs / 1000), timeoutSeconds }, 'idle persistent pod deleted');
    return true;
  }

  /** A dead instance's Lease goes once none of its pods are left, so Leases do not pile up. */
  private async forgetLeases(dead: Set<string>, pods: V1Pod[], leases: V1Lease[]): Promise<void> {
    for (const lease of leases) {
      const owner = lease.metadata?.labels?.[LABEL_INSTANCE];
      if (!owner || !dead.has(owner)) continue;
      const leftover = pods.some((pod) => pod.metadata?.labels?.[LABEL_INSTANCE] === owner && pod.metadata?.labels?.[LABEL_PERSISTENT] !== 'true' && !pod.metadata?.deletionTimestamp);
      if (leftover) continue;
      try {
        await withDeadline(
          this.cluster.coordination.deleteNamespacedLease({ name: lease.metadata?.name ?? leaseName(owner), namespace: this.cluster.namespace }),
          this.options.requestTimeoutMs,
          'delete lease',
        );
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
  }
}

/** Attachment counts on a persistent pod, by gateway instance. */
function attachedInstances(pod: V1Pod): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [key, value] of Object.entries(pod.metadata?.annotations ?? {})) {
    if (key.startsWith(ANNOTATION_ATTACHED_PREFIX)) counts.set(key.slice(ANNOTATION_ATTACHED_PREFIX.length), Number(value) || 0);
  }
  return counts;
}
