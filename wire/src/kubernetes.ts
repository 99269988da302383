import { z } from 'zod';
import { DURATION_PATTERN, parseDuration } from './duration.ts';

/** A Kubernetes object name (DNS-1123 label, as pod names must be for `persistent` pods). */
const PodNameSchema = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'podName is a DNS label: lower-case letters, digits and -, at most 63');

/**
 * A duration as ContainerSSH's YAML/JSON writes Go's time.Duration: a string with a unit
 * (`"60s"`, `"250ms"`, `"2m"`) or a number of nanoseconds. Kept as written (so parsing twice
 * changes nothing); `goDurationMs` reads it.
 */
export const GoDurationSchema = z.union([z.string().regex(DURATION_PATTERN, 'a duration is a whole number with a unit: ms, s, m or h (e.g. "60s")'), z.number().int().positive()]);

/** Milliseconds of a GoDurationSchema value. */
export function goDurationMs(duration: string | number): number {
  if (typeof duration === 'number') return Math.ceil(duration / 1e6);
  return parseDuration(duration)!;
}

/**
 * The pod as ContainerSSH's `kubernetes.pod` carries it: Kubernetes `ObjectMeta` and `PodSpec`
 * in their own JSON names. The gateway sends both to the API server unchanged (it adds only its
 * ownership labels), so they stay loose here: the API server and its admission chain are the
 * authority on pod fields, and the configserver's guardrails on what is hardened.
 */
export const KubernetesPodMetadataSchema = z.looseObject({
  /** Must be the gateway's session namespace when given; pods are created nowhere else. */
  namespace: z.string().min(1).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

export const KubernetesPodSpecSchema = z.looseObject({
  containers: z.array(z.looseObject({ name: z.string().min(1), image: z.string().min(1).optional() })).min(1, 'a pod needs at least one container'),
});

/**
 * No defaults here, so a ContainerSSH answer round-trips unchanged; the gateway fills them in
 * (connection mode, `/bin/sh`, the sftp-server path, container 0) where it runs the pod.
 */
export const KubernetesPodConfigSchema = z
  .strictObject({
    metadata: KubernetesPodMetadataSchema.optional(),
    spec: KubernetesPodSpecSchema,
    /** Index of the container sessions run in (ContainerSSH `consoleContainerNumber`). */
    consoleContainerNumber: z.number().int().min(0).optional(),
    /**
     * `connection`: one pod per SSH connection, one exec per session channel.
     * `session`: one pod per session channel.
     * `persistent` (Portcullis): exec into the pod named `podName`, which outlives connections.
     */
    mode: z.enum(['connection', 'session', 'persistent']).optional(),
    /** Persistent mode: the pod to reach. */
    podName: PodNameSchema.optional(),
    /** Persistent mode: create `podName` from this spec when it does not exist, instead of refusing. */
    createMissingPods: z.boolean().optional(),
    /**
     * Persistent mode (Portcullis): delete the pod once no session has been attached to it for
     * this long. Absent: the pod stays until someone deletes it. Ignored in the other modes.
     */
    persistentIdleTimeout: GoDurationSchema.optional(),
    /**
     * When given, replaces the console container's command (ContainerSSH `idleCommand`); when
     * absent the spec's own command runs unchanged. It must keep the container running.
     */
    idleCommand: z.array(z.string().min(1)).min(1).optional(),
    /** Program run for a shell request (ContainerSSH `shellCommand`). */
    shellCommand: z.array(z.string().min(1)).min(1).optional(),
    /** Subsystem name → program in the image (ContainerSSH `subsystems`). */
    subsystems: z.record(z.string().regex(/^[a-z0-9@._-]+$/), z.string().startsWith('/')).optional(),
  })
  .refine((pod) => pod.mode !== 'persistent' || pod.podName !== undefined, { message: 'persistent mode needs podName', path: ['podName'] })
  .refine((pod) => (pod.consoleContainerNumber ?? 0) < pod.spec.containers.length, {
    message: 'consoleContainerNumber names no container of the spec',
    path: ['consoleContainerNumber'],
  });
export type KubernetesPodConfig = z.infer<typeof KubernetesPodConfigSchema>;

/** ContainerSSH `kubernetes.timeouts`; the gateway's own settings cap them. */
export const KubernetesTimeoutsSchema = z.strictObject({
  /** Creation to Running; a slower pod is deleted and the login refused. */
  podStart: GoDurationSchema.optional(),
  /** Waiting for an exec to start. */
  commandStart: GoDurationSchema.optional(),
  /** Accepted for ContainerSSH compatibility; the gateway's own settings decide these. */
  podStop: GoDurationSchema.optional(),
  signal: GoDurationSchema.optional(),
  window: GoDurationSchema.optional(),
  http: GoDurationSchema.optional(),
});

/**
 * ContainerSSH's `kubernetes` section. Cluster credentials (`connection`: host, certificates,
 * bearer token) are the gateway operator's, never a webhook's: the section parses so a
 * ContainerSSH config server's answer is understood, and the gateway refuses it by name.
 */
export const KubernetesConfigSchema = z.strictObject({
  pod: KubernetesPodConfigSchema,
  timeouts: KubernetesTimeoutsSchema.optional(),
  connection: z.looseObject({}).optional().describe('Refused by the gateway: cluster credentials come from its own settings.'),
});
export type KubernetesConfig = z.infer<typeof KubernetesConfigSchema>;
