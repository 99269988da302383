import { setHeaderOptions, PatchStrategy, type V1Pod } from '@kubernetes/client-node';
import { GatewayError } from '../../errors.ts';
import { errorFields, type Logger } from '../../observability/index.ts';
import { withDeadline } from './api-errors.ts';
import type { Cluster } from './cluster.ts';
import { ANNOTATION_ATTACHED_PREFIX, ANNOTATION_IDLE_TIMEOUT, ANNOTATION_LAST_ATTACH, ANNOTATION_LAST_DETACH, LABEL_PERSISTENT } from './pod-spec.ts';

export interface PersistentAttachmentsOptions {
  readonly cluster: Cluster;
  readonly instanceId: string;
  readonly requestTimeoutMs: number;
  readonly log: Logger;
}

/** One connection's hold on a persistent pod. */
export interface Attachment {
  /** The annotations a pod this connection creates starts with, so it is never idle for a moment. */
  readonly annotations: Readonly<Record<string, string>>;
  /** Writes the attachment on the pod; a GatewayError when it could not (the caller refuses the login). */
  record(): Promise<void>;
  /** Ends the hold (once); a failed write is logged and repaired by `reconcile`. Never throws. */
  release(): Promise<void>;
}

/** This instance's attachment key on a pod. */
export function attachmentKey(instanceId: string): string {
  return `${ANNOTATION_ATTACHED_PREFIX}${instanceId}`;
}

/**
 * How many connections of this gateway instance use each persistent pod, mirrored into the pod's
 * annotations (merge patches of this instance's own key only, serialized per pod) so that the
 * reaper of any instance sees the pod is in use. The count on the pod is what this instance last
 * wrote; `reconcile` rewrites it where a write failed. Needs `patch` on pods.
 */
export class PersistentAttachments {
  private readonly counts = new Map<string, number>();
  private readonly writes = new Map<string, Promise<void>>();

  constructor(private readonly options: PersistentAttachmentsOptions) {}

  /** Counts a connection on `pod` at once (before the pod may even exist); see Attachment. */
  begin(pod: string, idleTimeoutMs: number | undefined): Attachment {
    this.counts.set(pod, (this.counts.get(pod) ?? 0) + 1);
    const idle = idleTimeoutMs === undefined ? null : String(Math.ceil(idleTimeoutMs / 1000));
    let released: Promise<void> | undefined;
    return {
      annotations: {
        [attachmentKey(this.options.instanceId)]: String(this.counts.get(pod)),
        [ANNOTATION_LAST_ATTACH]: new Date().toISOString(),
        ...(idle !== null ? { [ANNOTATION_IDLE_TIMEOUT]: idle } : {}),
      },
      record: async () => {
        try {
          // The idle timeout of the latest config wins; none removes an earlier one.
          await this.write(pod, { [ANNOTATION_LAST_ATTACH]: new Date().toISOString(), [ANNOTATION_IDLE_TIMEOUT]: idle });
        } catch (cause) {
          throw new GatewayError('KUBERNETES_PERSISTENT_POD_ATTACH_FAILED', 'Could not start your session: its persistent pod could not be marked as in use.', { cause });
        }
      },
      release: () => {
        released ??= (async () => {
          const left = (this.counts.get(pod) ?? 1) - 1;
          if (left > 0) this.counts.set(pod, left);
          else this.counts.delete(pod);
          try {
            await this.write(pod, { [ANNOTATION_LAST_DETACH]: new Date().toISOString() });
          } catch (error) {
            this.options.log.warn({ code: 'KUBERNETES_PERSISTENT_POD_ATTACH_FAILED', pod, ...errorFields(error) }, 'detach not recorded; the reaper retries');
          }
        })();
        return released;
      },
    };
  }

  /** Whether this instance holds `pod` now. */
  holds(pod: string): boolean {
    return (this.counts.get(pod) ?? 0) > 0;
  }

  /**
   * Rewrites this instance's count on each listed persistent pod where it differs from the truth
   * in memory (a write that failed, a count left by a previous run under the same id). Never throws.
   */
  async reconcile(pods: readonly V1Pod[]): Promise<void> {
    const key = attachmentKey(this.options.instanceId);
    for (const pod of pods) {
      const name = pod.metadata?.name;
      if (!name || pod.metadata?.labels?.[LABEL_PERSISTENT] !== 'true' || pod.metadata.deletionTimestamp) continue;
      const written = pod.metadata.annotations?.[key];
      const count = this.counts.get(name) ?? 0;
      if ((written ?? '0') === String(count) || this.writes.has(name)) continue;
      try {
        await this.write(name, {});
      } catch (error) {
        this.options.log.warn({ code: 'KUBERNETES_PERSISTENT_POD_ATTACH_FAILED', pod: name, ...errorFields(error) }, 'attachment count not repaired');
      }
    }
  }

  /** One merge patch of this instance's count (as it is when the write runs) plus `extra`; queued behind the pod's previous write. */
  private write(pod: string, extra: Record<string, string | null>): Promise<void> {
    const { cluster, instanceId, requestTimeoutMs } = this.options;
    const previous = this.writes.get(pod) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(async () => {
        const count = this.counts.get(pod) ?? 0;
        const body = { metadata: { annotations: { ...extra, [attachmentKey(instanceId)]: count > 0 ? String(count) : null } } };
        await withDeadline(
          cluster.core.patchNamespacedPod({ name: pod, namespace: cluster.namespace, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
          requestTimeoutMs,
          'patch pod',
        );
      });
    this.writes.set(pod, next);
    void next
      .finally(() => {
        if (this.writes.get(pod) === next) this.writes.delete(pod);
      })
      .catch(() => undefined);
    return next;
  }
}
