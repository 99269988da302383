import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { parseQuantity, QUANTITY_ERROR } from './quantity.ts';
import { errors, fieldError, type FieldError } from './status.ts';
import type { KubeObject } from './store.ts';

/**
 * The parts of a v1 Pod this server reads, as zod schemas that keep every other field
 * (`looseObject`): a body of the wrong shape is a decode error (400), as the real server's
 * JSON decoding makes it; semantic errors are field errors (422) from `validatePod`.
 */
const Quantities = z.record(z.string(), z.union([z.string(), z.number()]));
const Capabilities = z.looseObject({ add: z.array(z.string()).optional(), drop: z.array(z.string()).optional() });
const SeccompProfile = z.looseObject({ type: z.string(), localhostProfile: z.string().optional() });

export const ContainerSecurityContextSchema = z.looseObject({
  runAsUser: z.number().int().optional(),
  runAsGroup: z.number().int().optional(),
  runAsNonRoot: z.boolean().optional(),
  readOnlyRootFilesystem: z.boolean().optional(),
  allowPrivilegeEscalation: z.boolean().optional(),
  privileged: z.boolean().optional(),
  capabilities: Capabilities.optional(),
  seccompProfile: SeccompProfile.optional(),
  procMount: z.string().optional(),
});

export const ContainerSchema = z.looseObject({
  name: z.string().optional(),
  image: z.string().optional(),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  workingDir: z.string().optional(),
  env: z
    .array(
      z.looseObject({
        name: z.string(),
        value: z.string().optional(),
        valueFrom: z.looseObject({ fieldRef: z.looseObject({ fieldPath: z.string() }).optional() }).optional(),
      }),
    )
    .optional(),
  resources: z.looseObject({ limits: Quantities.optional(), requests: Quantities.optional() }).optional(),
  volumeMounts: z.array(z.looseObject({ name: z.string(), mountPath: z.string(), readOnly: z.boolean().optional() })).optional(),
  securityContext: ContainerSecurityContextSchema.optional(),
  imagePullPolicy: z.string().optional(),
  stdin: z.boolean().optional(),
  tty: z.boolean().optional(),
  ports: z.array(z.looseObject({ containerPort: z.number().int(), hostPort: z.number().int().optional() })).optional(),
});

export const PodSecurityContextSchema = z.looseObject({
  runAsUser: z.number().int().optional(),
  runAsGroup: z.number().int().optional(),
  runAsNonRoot: z.boolean().optional(),
  fsGroup: z.number().int().optional(),
  supplementalGroups: z.array(z.number().int()).optional(),
  seccompProfile: SeccompProfile.optional(),
});

export const VolumeSchema = z.looseObject({
  name: z.string(),
  emptyDir: z.looseObject({ medium: z.string().optional(), sizeLimit: z.union([z.string(), z.number()]).optional() }).optional(),
});

export const PodSpecSchema = z.looseObject({
  containers: z.array(ContainerSchema).optional(),
  initContainers: z.array(ContainerSchema).optional(),
  volumes: z.array(VolumeSchema).optional(),
  securityContext: PodSecurityContextSchema.optional(),
  restartPolicy: z.string().optional(),
  nodeSelector: z.record(z.string(), z.string()).optional(),
  nodeName: z.string().optional(),
  terminationGracePeriodSeconds: z.number().int().optional(),
  hostNetwork: z.boolean().optional(),
  hostPID: z.boolean().optional(),
  hostIPC: z.boolean().optional(),
  automountServiceAccountToken: z.boolean().optional(),
});

export const PodSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: z
    .looseObject({
      name: z.string().optional(),
      generateName: z.string().optional(),
      namespace: z.string().optional(),
      labels: z.record(z.string(), z.string()).optional(),
      annotations: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  spec: PodSpecSchema.optional(),
});

export type Container = z.infer<typeof ContainerSchema>;
export type PodSpec = z.infer<typeof PodSpecSchema>;
export type Volume = z.infer<typeof VolumeSchema>;
export type ContainerSecurityContext = z.infer<typeof ContainerSecurityContextSchema>;
export type PodSecurityContext = z.infer<typeof PodSecurityContextSchema>;

/** A stored pod with the fields this server relies on present. */
export interface Pod extends KubeObject {
  spec: PodSpec & { containers: Array<Container & { name: string; image: string }> };
  status: Record<string, unknown>;
}

/** Decodes a request body as a Pod, answering 400 with a Go-decoder-like message when it is not one. */
export function decodePod(body: unknown): KubeObject {
  const parsed = PodSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw errors.badRequest(`Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal into Go struct field ${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data as unknown as KubeObject;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_ERROR =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_ERROR =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

export function validateObjectName(name: string, field = 'metadata.name'): FieldError[] {
  if (name.length > 253) return [fieldError.invalid(field, name, 'must be no more than 253 characters')];
  if (!DNS1123_SUBDOMAIN.test(name)) return [fieldError.invalid(field, name, SUBDOMAIN_ERROR)];
  return [];
}

export function validateNamespaceName(name: string): FieldError[] {
  if (name.length > 63) return [fieldError.invalid('metadata.name', name, 'must be no more than 63 characters')];
  if (!DNS1123_LABEL.test(name)) return [fieldError.invalid('metadata.name', name, LABEL_ERROR)];
  return [];
}

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];

/** The field errors of a pod, as ValidatePodCreate reports the ones this server checks. */
export function validatePod(pod: KubeObject): FieldError[] {
  const spec = (pod.spec ?? {}) as PodSpec;
  const out: FieldError[] = [];
  const volumes = new Set<string>();
  (spec.volumes ?? []).forEach((v, i) => {
    if (volumes.has(v.name)) out.push(fieldError.duplicate(`spec.volumes[${i}].name`, v.name));
    volumes.add(v.name);
    if (v.emptyDir?.sizeLimit !== undefined && parseQuantity(v.emptyDir.sizeLimit) === undefined)
      out.push(fieldError.invalid(`spec.volumes[${i}].emptyDir.sizeLimit`, v.emptyDir.sizeLimit, QUANTITY_ERROR));
  });
  if (!spec.containers || spec.containers.length === 0) out.push(fieldError.required('spec.containers'));
  const names = new Set<string>();
  const check = (c: Container, path: string) => {
    if (!c.name) out.push(fieldError.required(`${path}.name`));
    else if (!DNS1123_LABEL.test(c.name)) out.push(fieldError.invalid(`${path}.name`, c.name, LABEL_ERROR));
    else if (names.has(c.name)) out.push(fieldError.duplicate(`${path}.name`, c.name));
    if (c.name) names.add(c.name);
    if (!c.image || c.image.trim() === '') out.push(fieldError.required(`${path}.image`));
    if (c.imagePullPolicy !== undefined && !PULL_POLICIES.includes(c.imagePullPolicy)) out.push(fieldError.notSupported(`${path}.imagePullPolicy`, c.imagePullPolicy, PULL_POLICIES));
    for (const kind of ['limits', 'requests'] as const) {
      for (const [resource, value] of Object.entries(c.resources?.[kind] ?? {})) {
        const q = parseQuantity(value);
        if (q === undefined) out.push(fieldError.invalid(`${path}.resources.${kind}[${resource}]`, value, QUANTITY_ERROR));
        else if (q < 0) out.push(fieldError.invalid(`${path}.resources.${kind}[${resource}]`, value, 'must be greater than or equal to 0'));
      }
    }
    for (const resource of Object.keys(c.resources?.requests ?? {})) {
      const request = parseQuantity(c.resources?.requests?.[resource]);
      const limit = parseQuantity(c.resources?.limits?.[resource]);
      if (request !== undefined && limit !== undefined && request > limit)
        out.push(
          fieldError.invalid(`${path}.resources.requests`, String(c.resources?.requests?.[resource]), `must be less than or equal to ${resource} limit of ${String(c.resources?.limits?.[resource])}`),
        );
    }
    (c.volumeMounts ?? []).forEach((m, j) => {
      if (!volumes.has(m.name)) out.push(fieldError.notFound(`${path}.volumeMounts[${j}].name`, m.name));
      if (!m.mountPath) out.push(fieldError.required(`${path}.volumeMounts[${j}].mountPath`));
    });
    (c.env ?? []).forEach((e, j) => {
      if (!e.name) out.push(fieldError.required(`${path}.env[${j}].name`));
    });
  };
  (spec.initContainers ?? []).forEach((c, i) => {
    check(c, `spec.initContainers[${i}]`);
  });
  (spec.containers ?? []).forEach((c, i) => {
    check(c, `spec.containers[${i}]`);
  });
  if (spec.restartPolicy !== undefined && !RESTART_POLICIES.includes(spec.restartPolicy)) out.push(fieldError.notSupported('spec.restartPolicy', spec.restartPolicy, RESTART_POLICIES));
  return out;
}

/** requests default to limits, as the API server's defaulting does. */
function defaultResources(c: Container): void {
  if (!c.resources) {
    c.resources = {};
    return;
  }
  const limits = c.resources.limits;
  if (limits) {
    c.resources.requests = { ...limits, ...(c.resources.requests ?? {}) };
  }
}

function defaultPullPolicy(image: string): string {
  const lastSegment = image.split('/').pop() ?? image;
  if (image.includes('@')) return 'IfNotPresent';
  const tag = lastSegment.includes(':') ? lastSegment.split(':').pop() : undefined;
  return tag === undefined || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/** Fills in what the API server's defaulting fills in, so a client reads back what a cluster returns. */
export function defaultPod(pod: KubeObject): void {
  const spec = (pod.spec ?? {}) as PodSpec & Record<string, unknown>;
  pod.spec = spec;
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  spec.serviceAccountName ??= 'default';
  spec.serviceAccount ??= spec.serviceAccountName;
  spec.enableServiceLinks ??= true;
  spec.preemptionPolicy ??= 'PreemptLowerPriority';
  spec.priority ??= 0;
  spec.tolerations ??= [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
  ];
  for (const v of spec.volumes ?? []) {
    if (v.emptyDir) v.emptyDir.medium ??= '';
  }
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])] as Array<Container & Record<string, unknown>>) {
    defaultResources(c);
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
    c.imagePullPolicy ??= defaultPullPolicy(c.image ?? '');
  }
  pod.status = { phase: 'Pending', qosClass: qosClass(spec) };
}

function qosClass(spec: PodSpec): string {
  const containers = spec.containers ?? [];
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    const limits = c.resources?.limits ?? {};
    const requests = c.resources?.requests ?? {};
    if (Object.keys(limits).length || Object.keys(requests).length) any = true;
    for (const r of ['cpu', 'memory']) {
      if (limits[r] === undefined || parseQuantity(limits[r]) !== parseQuantity(requests[r] ?? limits[r])) guaranteed = false;
    }
  }
  if (guaranteed) return 'Guaranteed';
  return any ? 'Burstable' : 'BestEffort';
}

const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** `generateName` + 5 characters from the same alphabet as k8s.io/apiserver's name generator. */
export function generateName(prefix: string): string {
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += GENERATE_ALPHABET[Math.floor(Math.random() * GENERATE_ALPHABET.length)];
  return `${prefix.slice(0, 58)}${suffix}`;
}

export function newUid(): string {
  return randomUUID();
}
