import type { V1Pod } from '@kubernetes/client-node';
import { goDurationMs, type KubernetesConfig } from '@portcullis/wire';
import { GatewayError } from '../../errors.ts';

/** Labels on every pod the gateway creates, so any instance can find and reap it (as on Docker containers). */
export const LABEL_SESSION = 'containerssh.io/session';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_INSTANCE = 'portcullis.io/instance';
export const LABEL_CONNECTION = 'portcullis.io/connection';
/** Persistent pods outlive connections and gateways; the reaper leaves them alone. */
export const LABEL_PERSISTENT = 'portcullis.io/persistent';
export const MANAGED_BY = 'portcullis-gateway';

/**
 * Annotations on a persistent pod, so every gateway instance's reaper can tell whether it is in
 * use: one attachment count per instance (each instance writes only its own key, so instances
 * never race on a value; an instance whose Lease expired no longer counts), when a session last
 * attached and detached, and the idle timeout in seconds from the config of the last attach.
 */
export const ANNOTATION_ATTACHED_PREFIX = 'attached.portcullis.io/';
export const ANNOTATION_LAST_ATTACH = 'portcullis.io/last-attach';
export const ANNOTATION_LAST_DETACH = 'portcullis.io/last-detach';
export const ANNOTATION_IDLE_TIMEOUT = 'portcullis.io/idle-timeout-seconds';

/** The config's pod settings with ContainerSSH's defaults filled in. */
export interface PodSettings {
  readonly metadata: NonNullable<KubernetesConfig['pod']['metadata']>;
  readonly spec: KubernetesConfig['pod']['spec'];
  readonly consoleContainer: string;
  readonly mode: 'connection' | 'session' | 'persistent';
  readonly podName?: string;
  readonly createMissingPods: boolean;
  /** Persistent mode: idle this long with no session attached, the pod is deleted; absent: never. */
  readonly persistentIdleTimeoutMs?: number;
  readonly idleCommand?: string[];
  readonly shellCommand: string[];
  readonly subsystems: Readonly<Record<string, string>>;
  /** Creation to Running, already capped by the gateway's own startTimeout. */
  readonly startTimeoutMs: number;
}

export interface PodOwner {
  readonly instanceId: string;
  readonly connectionId: string;
}

/**
 * Reads the config webhook's `kubernetes` section against the gateway's namespace and timeout.
 * A pod meant for another namespace is refused: pods are created in the session namespace only,
 * where the quota, network policy and Pod Security labels apply.
 */
export function podSettings(config: KubernetesConfig, namespace: string, startTimeoutMs: number): PodSettings {
  const { pod } = config;
  const metadata = pod.metadata ?? {};
  if (metadata.namespace !== undefined && metadata.namespace !== namespace) {
    throw new GatewayError('KUBERNETES_CONFIG_ERROR', 'Session refused: the configuration asks for a pod outside the session namespace.', {
      cause: new Error(`config namespace ${metadata.namespace}, gateway namespace ${namespace}`),
    });
  }
  const podStart = config.timeouts?.podStart;
  return {
    metadata,
    spec: pod.spec,
    consoleContainer: pod.spec.containers[pod.consoleContainerNumber ?? 0]!.name,
    mode: pod.mode ?? 'connection',
    ...(pod.podName !== undefined ? { podName: pod.podName } : {}),
    createMissingPods: pod.createMissingPods ?? false,
    ...(pod.persistentIdleTimeout !== undefined ? { persistentIdleTimeoutMs: goDurationMs(pod.persistentIdleTimeout) } : {}),
    ...(pod.idleCommand ? { idleCommand: pod.idleCommand } : {}),
    shellCommand: pod.shellCommand ?? ['/bin/sh'],
    subsystems: pod.subsystems ?? { sftp: '/usr/lib/openssh/sftp-server' },
    startTimeoutMs: podStart === undefined ? startTimeoutMs : Math.min(goDurationMs(podStart), startTimeoutMs),
  };
}

/**
 * The pod to create: the configured metadata and spec unchanged, in the gateway's namespace,
 * plus the gateway's ownership labels (they override a config's labels of the same name, so a
 * config cannot disguise a pod as another instance's). `idleCommand`, when the config gives one,
 * replaces the console container's command, as in ContainerSSH.
 */
export function podManifest(settings: PodSettings, namespace: string, name: string, owner: PodOwner, persistent = false): V1Pod {
  const spec = structuredClone(settings.spec) as V1Pod['spec'] & { containers: { name: string; command?: string[] }[] };
  if (settings.idleCommand) {
    const console = spec.containers.find((container) => container.name === settings.consoleContainer)!;
    console.command = [...settings.idleCommand];
    delete (console as { args?: unknown }).args;
  }
  const { namespace: _ignored, name: _name, generateName: _generated, ...metadata } = settings.metadata as Record<string, unknown>;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(metadata as V1Pod['metadata']),
      name,
      namespace,
      labels: {
        ...settings.metadata.labels,
        [LABEL_SESSION]: 'true',
        [LABEL_MANAGED_BY]: MANAGED_BY,
        [LABEL_INSTANCE]: owner.instanceId,
        [LABEL_CONNECTION]: owner.connectionId,
        ...(persistent ? { [LABEL_PERSISTENT]: 'true' } : {}),
      },
    },
    spec,
  };
}

/** A pod name for a connection's n-th pod: deterministic, so a lost create answer can still be cleaned up. */
export function sessionPodName(connectionId: string, sequence: number): string {
  return `portcullis-${connectionId.slice(0, 20)}-${sequence}`;
}
