/**
 * The engine's full check of one Pod: Kubernetes' schema (unknown fields, types), the field
 * allowlist (every field is one the engine sets or one a rule below judges by value), Pod
 * Security `restricted`, and the session rules, which hold whatever `os` or other exemption
 * Pod Security has.
 */
import { MANAGED_BY_LABEL, SESSION_LABEL } from './labels.ts';
import { checkPodSecurity } from './pod-security.ts';
import { podSchemaErrors, unknownFields } from './kubernetes-schema.ts';
import { formatPath, type Segment } from './path.ts';
import { parseQuantity } from './quantity.ts';
import type { Allowances } from './schema.ts';
import { isLoaderVariable } from './environment.ts';
import { collector, isSet, list, obj, sameValue, type Add, type Ceilings, type CheckContext, type Obj, type Violation } from './violations.ts';

const APPARMOR_ANNOTATION = 'container.apparmor.security.beta.kubernetes.io/';
/** Annotations that container runtimes (CRI-O, containerd, crun, Kata) read as settings. */
const RUNTIME_ANNOTATION_PREFIXES = ['io.kubernetes.cri-o.', 'io.kubernetes.cri.', 'io.containerd.', 'run.oci.', 'io.katacontainers.', 'io.podman.annotations.'];
const SECCOMP_POD_ANNOTATION = 'seccomp.security.alpha.kubernetes.io/pod';
const SECCOMP_CONTAINER_ANNOTATION = 'container.seccomp.security.alpha.kubernetes.io/';

/** Which session rule an upstream Pod Security check belongs to. */
function ruleForCheck(check: string, path: string): string {
  switch (check) {
    case 'privileged':
      return 'no-privileged';
    case 'allowPrivilegeEscalation':
      return 'no-privilege-escalation';
    case 'capabilities_baseline':
    case 'capabilities_restricted':
      return path.includes('.add') ? 'no-added-capabilities' : 'drop-all-capabilities';
    case 'hostNamespaces':
      return 'no-host-namespaces';
    case 'hostPathVolumes':
      return 'no-host-path';
    case 'restrictedVolumes':
      return path.endsWith('.hostPath') ? 'no-host-path' : 'restricted-volumes';
    case 'hostPorts':
      return 'no-host-ports';
    case 'runAsNonRoot':
      return 'run-as-non-root';
    case 'runAsUser':
      return 'no-root-user';
    case 'seccompProfile_baseline':
    case 'seccompProfile_restricted':
      return 'seccomp-required';
    case 'sysctls':
      return 'no-unsafe-sysctls';
    case 'seLinuxOptions':
      return 'no-selinux-override';
    case 'appArmorProfile':
      return 'no-apparmor-unconfined';
    case 'procMount':
    case 'procMount_restricted':
      return 'no-proc-mount';
    case 'hostProbesAndHostLifecycle':
      return 'no-host-probes';
    case 'windowsHostProcess':
      return 'no-windows-host-process';
    default:
      return `pod-security-${check}`;
  }
}

/**
 * The pod fields the engine accepts at all. `true`: the field (and all below it) is accepted here
 * and judged by value by a rule below or by Pod Security; an object: only the keys it lists.
 * A list applies its shape to every element. Anything else is `field-not-allowed`.
 */
type Shape = true | { readonly [key: string]: Shape };

const SECURITY_PROFILE: Shape = { type: true, localhostProfile: true };
const SE_LINUX: Shape = { level: true, type: true, user: true, role: true };
const PROBE: Shape = true; // Pod Security judges the host of probes and hooks.
const CONTAINER: Shape = {
  name: true,
  image: true,
  imagePullPolicy: true,
  command: true,
  args: true,
  workingDir: true,
  stdin: true,
  stdinOnce: true,
  tty: true,
  env: { name: true, value: true, valueFrom: { fieldRef: true, resourceFieldRef: true, configMapKeyRef: true } },
  resources: { limits: true, requests: true },
  volumeMounts: { name: true, mountPath: true, readOnly: true, subPath: true, subPathExpr: true, recursiveReadOnly: true },
  ports: { name: true, containerPort: true, protocol: true, hostPort: true, hostIP: true },
  livenessProbe: PROBE,
  readinessProbe: PROBE,
  startupProbe: PROBE,
  lifecycle: PROBE,
  terminationMessagePath: true,
  terminationMessagePolicy: true,
  // Judged by the single-container rule.
  targetContainerName: true,
  securityContext: {
    allowPrivilegeEscalation: true,
    readOnlyRootFilesystem: true,
    privileged: true,
    capabilities: { add: true, drop: true },
    runAsNonRoot: true,
    runAsUser: true,
    runAsGroup: true,
    seccompProfile: SECURITY_PROFILE,
    appArmorProfile: SECURITY_PROFILE,
    seLinuxOptions: SE_LINUX,
    procMount: true,
    windowsOptions: true,
  },
};
const POD: Shape = {
  apiVersion: true,
  kind: true,
  metadata: { name: true, generateName: true, namespace: true, labels: true, annotations: true },
  spec: {
    automountServiceAccountToken: true,
    enableServiceLinks: true,
    hostNetwork: true,
    hostPID: true,
    hostIPC: true,
    hostUsers: true,
    restartPolicy: true,
    shareProcessNamespace: true,
    serviceAccount: true,
    serviceAccountName: true,
    terminationGracePeriodSeconds: true,
    activeDeadlineSeconds: true,
    // Allowed only with the exact value baseline.yaml allows (no-scheduling-override, no-host-aliases, linux-only).
    priorityClassName: true,
    nodeName: true,
    tolerations: true,
    hostAliases: true,
    os: true,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: true,
      runAsGroup: true,
      fsGroup: true,
      fsGroupChangePolicy: true,
      supplementalGroups: true,
      supplementalGroupsPolicy: true,
      seccompProfile: SECURITY_PROFILE,
      appArmorProfile: SECURITY_PROFILE,
      seLinuxOptions: SE_LINUX,
      seLinuxChangePolicy: true,
      sysctls: { name: true, value: true },
      windowsOptions: true,
    },
    containers: CONTAINER,
    initContainers: CONTAINER,
    ephemeralContainers: CONTAINER,
    // Every volume type is judged by restrictedVolumes below.
    volumes: true,
  },
};

function walkShape(value: unknown, shape: Shape, path: Segment[], unknown: ReadonlySet<string>, out: (path: Segment[]) => void): void {
  if (shape === true || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      walkShape(item, shape, [...path, index], unknown, out);
    });
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    const at = [...path, key];
    if (unknown.has(formatPath(at))) continue; // already an unknown-field finding
    const child = shape[key];
    if (child === undefined) out(at);
    else walkShape(item, child, at, unknown, out);
  }
}

/** Seccomp and AppArmor profiles by value: RuntimeDefault, or Localhost with a profile the baseline names. */
function checkProfile(kind: 'seccomp' | 'appArmor', profile: unknown, at: Segment[], allowed: readonly string[], add: Add): void {
  if (!isSet(profile)) return;
  const { type, localhostProfile } = obj(profile);
  const rule = kind === 'seccomp' ? 'seccomp-required' : 'no-apparmor-unconfined';
  const field = kind === 'seccomp' ? 'seccompProfile' : 'appArmorProfile';
  if (type === 'RuntimeDefault') return;
  if (type === 'Localhost') {
    if (typeof localhostProfile === 'string' && allowed.includes(localhostProfile)) return;
    add(rule, [...at, field, 'localhostProfile'], `Localhost profile ${JSON.stringify(localhostProfile ?? '')} is not one baseline.yaml allow.${kind}Profiles names`);
    return;
  }
  // An empty `{}` is a profile with an empty type, never "unset".
  add(rule, [...at, field, 'type'], `${field} type ${JSON.stringify(type ?? '')} must be RuntimeDefault or an allowed Localhost profile`);
}

/** Resources a container may name: those with a ceiling, and ephemeral storage, which only restricts the container. */
const CEILED_RESOURCES = new Set(['cpu', 'memory', 'ephemeral-storage']);

function checkQuantities(resources: Obj, at: Segment[], ceilings: Ceilings, add: Add): void {
  const limits = obj(resources.limits);
  const requests = obj(resources.requests);
  const values: Record<string, Record<string, number | undefined>> = { limits: {}, requests: {} };
  for (const [kind, map] of [
    ['limits', limits],
    ['requests', requests],
  ] as const) {
    for (const [resource, raw] of Object.entries(map)) {
      // A GPU, hugepages or any other extended resource has no ceiling in baseline.yaml to stay within.
      if (!CEILED_RESOURCES.has(resource)) {
        add('resource-ceiling', [...at, kind, resource], `${kind}.${resource}: baseline.yaml sets no ceiling for ${resource} (only cpu, memory and ephemeral-storage)`);
        continue;
      }
      const value = typeof raw === 'string' || typeof raw === 'number' ? parseQuantity(raw) : undefined;
      if (value === undefined || value < 0) {
        add('quantity-format', [...at, kind, resource], `${kind}.${resource} ${JSON.stringify(raw)} is not a quantity Kubernetes parses`);
        continue;
      }
      values[kind]![resource] = value;
      if (kind === 'limits' && value === 0) add('limit-zero', [...at, kind, resource], `limits.${resource} 0 means no limit at all`);
    }
  }
  // Requests may be left out: Kubernetes defaults them to the limits.
  for (const resource of ['cpu', 'memory'] as const) {
    if (limits[resource] === undefined) add('limits-required', [...at, 'limits', resource], `limits.${resource} must be set`);
  }
  const memory = values.limits!.memory;
  const cpu = values.limits!.cpu;
  if (memory !== undefined && Math.ceil(memory) > ceilings.memory)
    add('resource-ceiling', [...at, 'limits', 'memory'], `memory limit ${String(limits.memory)} is above the ceiling (${ceilings.memory} bytes)`);
  if (cpu !== undefined && Math.ceil(cpu * 1000) > ceilings.cpu) add('resource-ceiling', [...at, 'limits', 'cpu'], `CPU limit ${String(limits.cpu)} is above the ceiling (${ceilings.cpu}m)`);
  for (const resource of ['cpu', 'memory'] as const) {
    const request = values.requests![resource];
    const limit = values.limits![resource];
    if (request !== undefined && limit !== undefined && request > limit) add('requests-within-limits', [...at, 'requests', resource], `${resource} request exceeds the limit`);
  }
}

/** Projected sources a session may see: config and its own pod's fields, never credentials. */
const PROJECTED_SOURCES = new Set(['configMap', 'downwardAPI']);

function checkVolume(volume: Obj, at: Segment[], allow: Allowances, ceilings: Ceilings, add: Add): void {
  const types = Object.keys(volume).filter((key) => key !== 'name');
  // The API server gives a volume that names no source an emptyDir, with no sizeLimit.
  if (types.length === 0) add('volume-size-limit', at, 'a volume with no source is an emptyDir without a sizeLimit');
  for (const type of types) {
    const source = obj(volume[type]);
    switch (type) {
      case 'emptyDir':
        if (source.sizeLimit === undefined) add('volume-size-limit', [...at, 'emptyDir', 'sizeLimit'], 'emptyDir needs a sizeLimit');
        else {
          const size = typeof source.sizeLimit === 'string' || typeof source.sizeLimit === 'number' ? parseQuantity(source.sizeLimit) : undefined;
          if (size === undefined) add('quantity-format', [...at, 'emptyDir', 'sizeLimit'], `sizeLimit ${JSON.stringify(source.sizeLimit)} is not a quantity Kubernetes parses`);
          // The kubelet enforces a sizeLimit only when it is above 0.
          else if (size <= 0) add('limit-zero', [...at, 'emptyDir', 'sizeLimit'], `sizeLimit ${JSON.stringify(source.sizeLimit)} means no limit at all`);
          else if (Math.ceil(size) > ceilings.volume)
            add('resource-ceiling', [...at, 'emptyDir', 'sizeLimit'], `sizeLimit ${String(source.sizeLimit)} is above the largest emptyDir of baseline.yaml (${ceilings.volume} bytes)`);
        }
        break;
      case 'configMap':
      case 'downwardAPI':
        break;
      case 'secret':
        if (!allow.secrets.includes(String(source.secretName ?? '')))
          add('no-secret-volumes', [...at, 'secret'], `secret ${JSON.stringify(source.secretName ?? '')} is not one baseline.yaml allow.secrets names`);
        break;
      case 'projected':
        list(source.sources).forEach((raw, index) => {
          for (const kind of Object.keys(obj(raw))) {
            const where = [...at, 'projected', 'sources', index, kind];
            if (kind === 'serviceAccountToken') add('no-service-account-token', where, 'a projected serviceAccountToken puts an API token in the session');
            else if (kind === 'secret') {
              if (!allow.secrets.includes(String(obj(obj(raw).secret).name ?? ''))) add('no-secret-volumes', where, 'projected secret not named in baseline.yaml allow.secrets');
            } else if (!PROJECTED_SOURCES.has(kind)) add('restricted-volumes', where, `projected source ${kind} is not allowed`);
          }
        });
        break;
      case 'hostPath':
        add('no-host-path', [...at, 'hostPath'], 'hostPath volumes are not allowed');
        break;
      default:
        add('restricted-volumes', [...at, type], `${type} volumes are not allowed in session pods`);
    }
  }
}

/**
 * The full check of one Pod (paths relative to the pod): Kubernetes' schema (unknown fields,
 * types), the field allowlist, Pod Security `restricted`, and the session rules.
 */
export function checkPod(pod: unknown, context: CheckContext): Violation[] {
  const { out, add } = collector();
  const { allow, ceilings } = context;
  const unknown = unknownFields(pod, 'V1Pod');
  for (const field of unknown) add('unknown-field', field.path, `${String(field.path.at(-1))} is not a field of Kubernetes' ${field.model.replace(/^V1/, '')}`);
  const unknownPaths = new Set(unknown.map((field) => formatPath(field.path)));
  for (const error of podSchemaErrors(pod)) add('kubernetes-schema', error.path, `Kubernetes schema: ${error.message}`);
  walkShape(pod, POD, [], unknownPaths, (path) => add('field-not-allowed', path, `${String(path.at(-1))} is not a field the engine sets or a rule allows`));
  for (const violation of checkPodSecurity(pod, 'restricted')) {
    add(ruleForCheck(violation.check, violation.path), violation.path, `Pod Security restricted, check ${violation.check}: ${violation.message}`, 'pod-security');
  }

  const metadata = obj(obj(pod).metadata);
  const spec = obj(obj(pod).spec);
  const context_ = obj(spec.securityContext);
  const labels = obj(metadata.labels);
  if (labels[SESSION_LABEL] !== 'true') add('session-labels', `metadata.labels["${SESSION_LABEL}"]`, `label ${SESSION_LABEL} must be "true"`);
  if (typeof labels[MANAGED_BY_LABEL] !== 'string') add('session-labels', `metadata.labels["${MANAGED_BY_LABEL}"]`, `label ${MANAGED_BY_LABEL} must be set`);
  if (spec.automountServiceAccountToken !== false) add('no-token-automount', 'spec.automountServiceAccountToken', 'automountServiceAccountToken must be false');
  if (spec.enableServiceLinks !== false) add('no-service-links', 'spec.enableServiceLinks', 'enableServiceLinks must be false');
  if (spec.serviceAccountName !== undefined || spec.serviceAccount !== undefined) add('no-service-account', 'spec.serviceAccountName', 'session pods use no service account of their own');
  if (spec.shareProcessNamespace === true) add('no-shared-process-namespace', 'spec.shareProcessNamespace', 'shareProcessNamespace must not be true');
  if (spec.restartPolicy !== 'Never') add('restart-never', 'spec.restartPolicy', 'restartPolicy must be Never');

  // The AppArmor annotation (before the field existed): a localhost/ profile only if the baseline names it.
  for (const [key, value] of Object.entries(obj(metadata.annotations))) {
    // A runtime honours these when its configuration allows them (devices, user namespace, cgroups).
    if (RUNTIME_ANNOTATION_PREFIXES.some((prefix) => key.startsWith(prefix))) {
      add('runtime-annotations', ['metadata', 'annotations', key], `annotation ${key} changes how the container runtime builds the container`);
      continue;
    }
    // The seccomp annotations (before the field existed): older nodes read them, and the API server
    // refuses a pod whose annotation and field disagree, so only the values the field allows.
    if (key === SECCOMP_POD_ANNOTATION || key.startsWith(SECCOMP_CONTAINER_ANNOTATION)) {
      const allowed = value === 'runtime/default' || (typeof value === 'string' && value.startsWith('localhost/') && allow.seccompProfiles.includes(value.slice('localhost/'.length)));
      if (!allowed)
        add(
          'seccomp-required',
          ['metadata', 'annotations', key],
          `seccomp annotation ${JSON.stringify(value)} must be runtime/default or a localhost/ profile baseline.yaml allow.seccompProfiles names`,
        );
      continue;
    }
    if (!key.startsWith(APPARMOR_ANNOTATION) || typeof value !== 'string' || !value.startsWith('localhost/')) continue;
    if (!allow.appArmorProfiles.includes(value.slice('localhost/'.length)))
      add('no-apparmor-unconfined', ['metadata', 'annotations', key], `AppArmor profile ${value} is not one baseline.yaml allow.appArmorProfiles names`);
  }
  // Scheduling and host fields: only the exact values the baseline allows.
  if (spec.priorityClassName !== undefined && !allow.priorityClassNames.includes(String(spec.priorityClassName)))
    add('no-scheduling-override', 'spec.priorityClassName', `priorityClassName ${JSON.stringify(spec.priorityClassName)} is not one baseline.yaml allow.priorityClassNames names`);
  if (spec.nodeName !== undefined && !allow.nodeNames.includes(String(spec.nodeName)))
    add('no-scheduling-override', 'spec.nodeName', `nodeName ${JSON.stringify(spec.nodeName)} is not one baseline.yaml allow.nodeNames names`);
  list(spec.tolerations).forEach((toleration, index) => {
    if (!allow.tolerations.some((allowed) => sameValue(allowed, toleration)))
      add('no-scheduling-override', ['spec', 'tolerations', index], 'this toleration is not one baseline.yaml allow.tolerations lists');
  });
  if (spec.tolerations !== undefined && !Array.isArray(spec.tolerations)) add('no-scheduling-override', 'spec.tolerations', 'tolerations must be a list of allowed tolerations');
  list(spec.hostAliases).forEach((alias, index) => {
    if (!allow.hostAliases.some((allowed) => sameValue(allowed, alias))) add('no-host-aliases', ['spec', 'hostAliases', index], 'this host alias is not one baseline.yaml allow.hostAliases lists');
  });
  // Sessions are Linux; `os: windows` would switch Pod Security's Linux-only checks off.
  if (spec.os !== undefined && !sameValue(spec.os, { name: 'linux' })) add('linux-only', 'spec.os', `os ${JSON.stringify(spec.os)}: session pods are Linux`);

  // Users and groups: Pod Security's runAsNonRoot holds on the pod or on every container.
  const containers = (['initContainers', 'containers', 'ephemeralContainers'] as const).flatMap((kind) =>
    list(spec[kind]).map((raw, index) => ({ container: obj(raw), at: ['spec', kind, index] as Segment[], kind })),
  );
  if (context_.runAsNonRoot !== true && !(containers.length > 0 && containers.every(({ container }) => obj(container.securityContext).runAsNonRoot === true))) {
    add('run-as-non-root', 'spec.securityContext.runAsNonRoot', 'runAsNonRoot must be true on the pod or on every container');
  }
  for (const field of ['runAsUser', 'runAsGroup', 'fsGroup'] as const) {
    const value = context_[field];
    if (value !== undefined && (typeof value !== 'number' || value <= 0)) add('no-root-user', ['spec', 'securityContext', field], `${field} must be a non-zero id`);
  }
  list(context_.supplementalGroups).forEach((group, index) => {
    if (typeof group !== 'number' || group <= 0) add('no-root-user', ['spec', 'securityContext', 'supplementalGroups', index], 'supplemental group 0 is the root group');
  });
  checkProfile('seccomp', context_.seccompProfile, ['spec', 'securityContext'], allow.seccompProfiles, add);
  checkProfile('appArmor', context_.appArmorProfile, ['spec', 'securityContext'], allow.appArmorProfiles, add);

  for (const kind of ['initContainers', 'ephemeralContainers'] as const) {
    if (list(spec[kind]).length > 0) add('single-container', `spec.${kind}`, `${kind} are not allowed in session pods`);
  }
  if (list(spec.containers).length !== 1) add('single-container', 'spec.containers', 'the session pod runs exactly one container');
  for (const { container, at, kind } of containers) {
    const security = obj(container.securityContext);
    // Also the engine's own rules, so no `os` (or any other exemption Pod Security has) switches them off.
    if (security.allowPrivilegeEscalation !== false) add('no-privilege-escalation', [...at, 'securityContext', 'allowPrivilegeEscalation'], 'allowPrivilegeEscalation must be false');
    if (!list(obj(security.capabilities).drop).includes('ALL')) add('drop-all-capabilities', [...at, 'securityContext', 'capabilities', 'drop'], 'capabilities.drop must contain ALL');
    if (!isSet(context_.seccompProfile) && !isSet(security.seccompProfile))
      add('seccomp-required', [...at, 'securityContext', 'seccompProfile'], 'seccompProfile must be set on the pod or on this container');
    if (security.readOnlyRootFilesystem !== true) add('read-only-root', [...at, 'securityContext', 'readOnlyRootFilesystem'], 'readOnlyRootFilesystem must be true');
    if (list(obj(security.capabilities).add).length > 0) add('no-added-capabilities', [...at, 'securityContext', 'capabilities', 'add'], 'no capabilities may be added');
    for (const field of ['runAsUser', 'runAsGroup'] as const) {
      if (security[field] !== undefined && (typeof security[field] !== 'number' || (security[field] as number) <= 0))
        add('no-root-user', [...at, 'securityContext', field], `${field} must be a non-zero id`);
    }
    checkProfile('seccomp', security.seccompProfile, [...at, 'securityContext'], allow.seccompProfiles, add);
    checkProfile('appArmor', security.appArmorProfile, [...at, 'securityContext'], allow.appArmorProfiles, add);
    // Ephemeral containers cannot carry resources; everything else needs limits within the ceilings.
    if (kind !== 'ephemeralContainers') checkQuantities(obj(container.resources), [...at, 'resources'], ceilings, add);
    list(container.env).forEach((entry, index) => {
      const name = obj(entry).name;
      if (typeof name === 'string' && isLoaderVariable(name) && !allow.environment.includes(name))
        add('no-loader-env', [...at, 'env', index, 'name'], `${name} changes the dynamic loader or the shell`);
    });
  }
  list(spec.volumes).forEach((raw, index) => {
    checkVolume(obj(raw), ['spec', 'volumes', index], allow, ceilings, add);
  });
  return out;
}
