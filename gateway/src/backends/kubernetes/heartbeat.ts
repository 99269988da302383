import { V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import { errorFields, type Logger } from '../../observability/index.ts';
import { isNotFound, withDeadline } from './api-errors.ts';
import type { Cluster } from './cluster.ts';
import { LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGED_BY } from './pod-spec.ts';

export interface HeartbeatOptions {
  readonly instanceId: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly log: Logger;
}

/** The Lease of one gateway instance, in the session namespace. */
export function leaseName(instanceId: string): string {
  return `portcullis-gateway-${instanceId}`;
}

/**
 * This instance's heartbeat: a coordination.k8s.io Lease it renews every `intervalMs`. Peers
 * (and this instance after a restart, under a new id) take a Lease that stops changing for
 * `timeoutMs` as proof its gateway died, and reap that gateway's pods (see PodReaper). A
 * renewal that fails is logged and tried again next time; the Lease is created when missing.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;

  constructor(
    private readonly cluster: Cluster,
    private readonly options: HeartbeatOptions,
  ) {}

  /** Resolves after the first beat (successful or not); never throws. */
  start(): Promise<void> {
    this.timer = setInterval(() => void this.beat(), this.options.intervalMs);
    this.timer.unref();
    return this.beat();
  }

  /** Stops renewing and deletes the Lease: a clean shutdown left no pods to reap. Never throws. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.beating;
    try {
      await withDeadline(
        this.cluster.coordination.deleteNamespacedLease({ name: leaseName(this.options.instanceId), namespace: this.cluster.namespace }),
        this.options.requestTimeoutMs,
        'delete lease',
      );
    } catch (error) {
      if (!isNotFound(error)) this.options.log.debug({ code: 'KUBERNETES_HEARTBEAT_FAILED', ...errorFields(error) }, 'lease not deleted');
    }
  }

  private beat(): Promise<void> {
    this.beating ??= this.renew().finally(() => {
      this.beating = undefined;
    });
    return this.beating;
  }

  private async renew(): Promise<void> {
    const { instanceId, requestTimeoutMs, timeoutMs, log } = this.options;
    const name = leaseName(instanceId);
    const lease: V1Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: this.cluster.namespace, labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_INSTANCE]: instanceId } },
      spec: { holderIdentity: instanceId, leaseDurationSeconds: Math.ceil(timeoutMs / 1000), renewTime: new V1MicroTime() },
    };
    const namespace = this.cluster.namespace;
    try {
      try {
        // An unconditional replace: only this instance ever writes its own Lease.
        await withDeadline(this.cluster.coordination.replaceNamespacedLease({ name, namespace, body: lease }), requestTimeoutMs, 'renew lease');
      } catch (error) {
        if (!isNotFound(error)) throw error;
        await withDeadline(this.cluster.coordination.createNamespacedLease({ namespace, body: lease }), requestTimeoutMs, 'create lease');
      }
    } catch (error) {
      log.warn({ code: 'KUBERNETES_HEARTBEAT_FAILED', lease: name, ...errorFields(error) }, 'heartbeat not renewed');
    }
  }
}
