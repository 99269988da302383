import type { GatewayMetrics, Logger } from '../../observability/index.ts';
import type { KubernetesSettings } from '../../settings/index.ts';
import { withDeadline } from './api-errors.ts';
import { connectCluster, type Cluster } from './cluster.ts';
import { Heartbeat } from './heartbeat.ts';
import { KubernetesBackend } from './kubernetes-backend.ts';
import { PodReaper } from './pod-reaper.ts';

export { KubernetesBackend, type KubernetesBackendOptions } from './kubernetes-backend.ts';
export { connectCluster, type Cluster } from './cluster.ts';
export { LABEL_CONNECTION, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_PERSISTENT, LABEL_SESSION, MANAGED_BY } from './pod-spec.ts';

/** The backend with its heartbeat and reaper, as one gateway instance runs them. */
export interface KubernetesRuntime {
  readonly backend: KubernetesBackend;
  readonly cluster: Cluster;
  /** Heartbeat and reaper, in the background; never throws (a cluster that is down is retried). */
  start(): void;
  /** After every connection closed: stop reaping and delete this instance's Lease. */
  stop(): Promise<void>;
  /** Health: the API server answers a pod list in the session namespace. */
  check(): Promise<void>;
}

export function kubernetesRuntime(settings: KubernetesSettings, instanceId: string, log: Logger, metrics?: GatewayMetrics): KubernetesRuntime {
  const cluster = connectCluster(settings);
  const backend = new KubernetesBackend({ cluster, instanceId, settings, log, ...(metrics ? { metrics } : {}) });
  const heartbeat = new Heartbeat(cluster, {
    instanceId,
    intervalMs: settings.heartbeatInterval,
    timeoutMs: settings.heartbeatTimeout,
    requestTimeoutMs: settings.requestTimeout,
    log,
  });
  const reaper = new PodReaper(cluster, {
    instanceId,
    intervalMs: settings.reapInterval,
    heartbeatTimeoutMs: settings.heartbeatTimeout,
    requestTimeoutMs: settings.requestTimeout,
    ownPods: backend.ownPods,
    attachments: backend.attachments,
    log,
  });
  return {
    backend,
    cluster,
    start: () => {
      // The listener does not wait for the cluster: a login while it is down fails closed on its own.
      void heartbeat.start();
      reaper.start();
    },
    stop: async () => {
      reaper.stop();
      await heartbeat.stop();
    },
    check: async () => {
      try {
        await withDeadline(cluster.core.listNamespacedPod({ namespace: cluster.namespace, limit: 1 }), settings.requestTimeout, 'list pods');
      } catch (error) {
        throw new Error(`the Kubernetes API server cannot be reached: ${(error as Error).message}`);
      }
    },
  };
}
