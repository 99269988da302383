/**
 * Guardrails: what every rendered session must satisfy, whatever the profiles say. A positive
 * model: every field of the pod (all containers, init and ephemeral) and of the Docker create body
 * is one the engine sets, or one an explicit rule below judges by value; any other field is
 * refused. On top, the pod must pass Pod Security `restricted` (pod-security.ts) and the session
 * rules, and resources stay within the baseline's ceilings. Overlays can set fields but never
 * delete them, so a rule that demands the hardened value makes relaxing a security field impossible.
 */
import type { DockerExecution } from '@portcullis/wire';
import type { Policy } from './load.ts';
import type { Rendered } from './merge.ts';
import { defaultPod, MANAGED_BY_LABEL, SESSION_LABEL } from './merge.ts';
import { checkPodSecurity } from './pod-security.ts';
import { podSchemaErrors, unknownFields } from './kubernetes-schema.ts';
import { formatPath, type Segment } from './path.ts';
import { cpuMillis, memoryBytes, parseQuantity } from './quantity.ts';
import { NO_ALLOWANCES, type Allowances, type Baseline } from './schema.ts';
import { isLoaderVariable } from './environment.ts';

export { RULES } from './rules.ts';

export interface Violation {
  readonly rule: string;
  /** Field path (`pod.spec.hostNetwork`, `docker.execution.host.readonlyRootfs`; relative to the object for checkPod/checkDockerCreate). */
  readonly path: string;
  readonly message: string;
  /** `pod-security`: Kubernetes' own restricted check; `session`: an engine rule, stricter than Pod Security. */
  readonly source: 'pod-security' | 'session';
}

export interface Ceilings {
  readonly cpu: number;
  readonly memory: number;
  readonly pids: number;
}

/** What a check needs from the policy: the ceilings and what the baseline allows by value. */
export interface CheckContext {
  readonly ceilings: Ceilings;
  readonly allow: Allowances;
}

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

type Obj = Record<string, unknown>;
const obj = (value: unknown): Obj => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Obj) : {});
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const isSet = (value: unknown) => value !== undefined && value !== null;

/** Effective ceilings: those declared, else the baseline's own limits. */
export function ceilingsOf(baseline: Baseline, basePod: Obj): Ceilings {
  const limits = obj(obj(obj(list(obj(basePod.spec).containers)[0]).resources).limits);
  return {
    cpu: cpuMillis(baseline.ceilings.cpu ?? String(limits.cpu ?? '')) ?? Math.round((baseline.docker.execution.host.nanoCpus ?? 1e9) / 1e6),
    memory: memoryBytes(baseline.ceilings.memory ?? String(limits.memory ?? '')) ?? baseline.docker.execution.host.memory ?? 512 * 2 ** 20,
    pids: baseline.ceilings.pids ?? baseline.docker.execution.host.pidsLimit ?? 256,
  };
}

/** The baseline's own pod: its limits are the default ceilings. */
export function basePod(policy: Policy): Obj {
  return (policy.baseline.kubernetes?.pod as Obj | undefined) ?? defaultPod(policy.baseline.docker.execution);
}

export function checkContextFor(policy: Policy): CheckContext {
  return { ceilings: ceilingsOf(policy.baseline, basePod(policy)), allow: policy.baseline.allow ?? NO_ALLOWANCES };
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
    value.forEach((item, index) => walkShape(item, shape, [...path, index], unknown, out));
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

/** Same value, key order aside (for exact-value allowances). */
function sameValue(a: unknown, b: unknown): boolean {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value) ? value.map(canonical) : value && typeof value === 'object' ? Object.fromEntries(Object.entries(value).sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, v]) => [k, canonical(v)])) : value;
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/**
 * The gateway's own bookkeeping labels and annotations (owner instance, connection, persistent,
 * idle timers): set by a policy, a container would escape the reaper or another user's pod be
 * mistaken for it. The engine itself sets only `portcullis.io/egress-<profile>`.
 */
const isReservedKey = (key: string) => key.startsWith('portcullis.io/') && !key.startsWith('portcullis.io/egress-');

type Add = (rule: string, path: Segment[] | string, message: string, source?: Violation['source']) => void;

function collector(): { out: Violation[]; add: Add } {
  const out: Violation[] = [];
  const seen = new Set<string>();
  const add: Add = (rule, path, message, source = 'session') => {
    const at = typeof path === 'string' ? path : formatPath(path);
    const key = `${rule} ${at}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ rule, path: at, message, source });
  };
  return { out, add };
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

function checkQuantities(resources: Obj, at: Segment[], ceilings: Ceilings, add: Add): void {
  const limits = obj(resources.limits);
  const requests = obj(resources.requests);
  const values: Record<string, Record<string, number | undefined>> = { limits: {}, requests: {} };
  for (const [kind, map] of [['limits', limits], ['requests', requests]] as const) {
    for (const [resource, raw] of Object.entries(map)) {
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
  if (memory !== undefined && Math.ceil(memory) > ceilings.memory) add('resource-ceiling', [...at, 'limits', 'memory'], `memory limit ${String(limits.memory)} is above the ceiling (${ceilings.memory} bytes)`);
  if (cpu !== undefined && Math.ceil(cpu * 1000) > ceilings.cpu) add('resource-ceiling', [...at, 'limits', 'cpu'], `CPU limit ${String(limits.cpu)} is above the ceiling (${ceilings.cpu}m)`);
  for (const resource of ['cpu', 'memory'] as const) {
    const request = values.requests![resource];
    const limit = values.limits![resource];
    if (request !== undefined && limit !== undefined && request > limit) add('requests-within-limits', [...at, 'requests', resource], `${resource} request exceeds the limit`);
  }
}

/** Projected sources a session may see: config and its own pod's fields, never credentials. */
const PROJECTED_SOURCES = new Set(['configMap', 'downwardAPI']);

function checkVolume(volume: Obj, at: Segment[], allow: Allowances, add: Add): void {
  const types = Object.keys(volume).filter((key) => key !== 'name');
  for (const type of types) {
    const source = obj(volume[type]);
    switch (type) {
      case 'emptyDir':
        if (source.sizeLimit === undefined) add('volume-size-limit', [...at, 'emptyDir', 'sizeLimit'], 'emptyDir needs a sizeLimit');
        else if (parseQuantity(String(source.sizeLimit)) === undefined) add('quantity-format', [...at, 'emptyDir', 'sizeLimit'], `sizeLimit ${JSON.stringify(source.sizeLimit)} is not a quantity Kubernetes parses`);
        break;
      case 'configMap':
      case 'downwardAPI':
        break;
      case 'secret':
        if (!allow.secrets.includes(String(source.secretName ?? ''))) add('no-secret-volumes', [...at, 'secret'], `secret ${JSON.stringify(source.secretName ?? '')} is not one baseline.yaml allow.secrets names`);
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

  // Scheduling and host fields: only the exact values the baseline allows.
  if (spec.priorityClassName !== undefined && !allow.priorityClassNames.includes(String(spec.priorityClassName))) add('no-scheduling-override', 'spec.priorityClassName', `priorityClassName ${JSON.stringify(spec.priorityClassName)} is not one baseline.yaml allow.priorityClassNames names`);
  if (spec.nodeName !== undefined && !allow.nodeNames.includes(String(spec.nodeName))) add('no-scheduling-override', 'spec.nodeName', `nodeName ${JSON.stringify(spec.nodeName)} is not one baseline.yaml allow.nodeNames names`);
  list(spec.tolerations).forEach((toleration, index) => {
    if (!allow.tolerations.some((allowed) => sameValue(allowed, toleration))) add('no-scheduling-override', ['spec', 'tolerations', index], 'this toleration is not one baseline.yaml allow.tolerations lists');
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
    if (!isSet(context_.seccompProfile) && !isSet(security.seccompProfile)) add('seccomp-required', [...at, 'securityContext', 'seccompProfile'], 'seccompProfile must be set on the pod or on this container');
    if (security.readOnlyRootFilesystem !== true) add('read-only-root', [...at, 'securityContext', 'readOnlyRootFilesystem'], 'readOnlyRootFilesystem must be true');
    if (list(obj(security.capabilities).add).length > 0) add('no-added-capabilities', [...at, 'securityContext', 'capabilities', 'add'], 'no capabilities may be added');
    for (const field of ['runAsUser', 'runAsGroup'] as const) {
      if (security[field] !== undefined && (typeof security[field] !== 'number' || (security[field] as number) <= 0)) add('no-root-user', [...at, 'securityContext', field], `${field} must be a non-zero id`);
    }
    checkProfile('seccomp', security.seccompProfile, [...at, 'securityContext'], allow.seccompProfiles, add);
    checkProfile('appArmor', security.appArmorProfile, [...at, 'securityContext'], allow.appArmorProfiles, add);
    // Ephemeral containers cannot carry resources; everything else needs limits within the ceilings.
    if (kind !== 'ephemeralContainers') checkQuantities(obj(container.resources), [...at, 'resources'], ceilings, add);
    list(container.env).forEach((entry, index) => {
      const name = obj(entry).name;
      if (typeof name === 'string' && isLoaderVariable(name) && !allow.environment.includes(name)) add('no-loader-env', [...at, 'env', index, 'name'], `${name} changes the dynamic loader or the shell`);
    });
  }
  list(spec.volumes).forEach((raw, index) => checkVolume(obj(raw), ['spec', 'volumes', index], allow, add));
  return out;
}

/** HostConfig fields the engine sets (the wire's DockerHostSchema) and the gateway's restart policy. */
const HOST_CONFIG = new Set(['ReadonlyRootfs', 'CapDrop', 'SecurityOpt', 'PidsLimit', 'Memory', 'MemorySwap', 'NanoCpus', 'Tmpfs', 'NetworkMode', 'IpcMode', 'CgroupnsMode', 'RestartPolicy']);
/** Create-body fields the engine or the gateway sets. */
const CREATE_BODY = new Set(['name', 'Image', 'User', 'Env', 'WorkingDir', 'Hostname', 'Labels', 'Cmd', 'Tty', 'OpenStdin', 'StdinOnce', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'HostConfig']);
/** Engine API fields with a rule of their own, so the finding names the real risk. */
const HOST_CONFIG_RULES: Record<string, string> = {
  Privileged: 'no-privileged',
  CapAdd: 'no-added-capabilities',
  Binds: 'no-host-path',
  Mounts: 'no-host-path',
  Devices: 'no-host-path',
  PidMode: 'no-host-namespaces',
  UTSMode: 'no-host-namespaces',
  UsernsMode: 'no-host-namespaces',
  PortBindings: 'no-host-ports',
  Sysctls: 'no-unsafe-sysctls',
};

/** `no-new-privileges`, `no-new-privileges:true`, `no-new-privileges=true`. */
const NO_NEW_PRIVILEGES = /^no-new-privileges([:=]true)?$/;

function checkSecurityOpt(option: string, at: Segment[], allow: Allowances, add: Add): void {
  if (NO_NEW_PRIVILEGES.test(option)) return;
  const [, key = option, value = ''] = /^([^:=]+)[:=](.*)$/s.exec(option) ?? [];
  switch (key) {
    case 'no-new-privileges':
      add('no-privilege-escalation', at, `${option}: no-new-privileges must stay true`);
      return;
    case 'seccomp':
      // The Engine API takes a profile's JSON inline; only Docker's built-in profile is allowed
      // per session (a custom one belongs in the daemon's own configuration).
      if (value !== 'builtin') add('seccomp-required', at, `seccomp=${value.length > 40 ? `${value.slice(0, 40)}…` : value}: only Docker's built-in seccomp profile is allowed`);
      return;
    case 'apparmor':
      if (!allow.appArmorProfiles.includes(value)) add('no-apparmor-unconfined', at, `apparmor=${value} is not a profile baseline.yaml allow.appArmorProfiles names`);
      return;
    case 'label':
      add('no-selinux-override', at, `label=${value} changes the SELinux confinement`);
      return;
    default:
      add('security-opt-allowlist', at, `securityOpt ${option} is not allowed (systempaths, unknown options)`);
  }
}

/**
 * The full check of one Docker Engine API create body (PascalCase, as the gateway sends it; paths
 * relative to the body): only the fields the engine sets, each with the hardened value.
 */
export function checkDockerCreate(body: unknown, context: CheckContext): Violation[] {
  const { out, add } = collector();
  const { allow, ceilings } = context;
  const create = obj(body);
  const host = obj(create.HostConfig);
  for (const key of Object.keys(create)) {
    if (!CREATE_BODY.has(key)) add('field-not-allowed', [key], `${key} is not a create-body field the engine sets`);
  }
  for (const key of Object.keys(host)) {
    if (HOST_CONFIG.has(key)) continue;
    add(HOST_CONFIG_RULES[key] ?? 'field-not-allowed', ['HostConfig', key], `HostConfig.${key} is not a field the engine sets or a rule allows`);
  }
  if (host.ReadonlyRootfs !== true) add('read-only-root', 'HostConfig.ReadonlyRootfs', 'ReadonlyRootfs must be true');
  if (!list(host.CapDrop).includes('ALL')) add('drop-all-capabilities', 'HostConfig.CapDrop', 'CapDrop must contain ALL');
  const securityOpt = list(host.SecurityOpt).map(String);
  if (!securityOpt.some((option) => NO_NEW_PRIVILEGES.test(option))) add('no-privilege-escalation', 'HostConfig.SecurityOpt', 'SecurityOpt must contain no-new-privileges:true');
  securityOpt.forEach((option, index) => checkSecurityOpt(option, ['HostConfig', 'SecurityOpt', index], allow, add));
  const mode = typeof host.NetworkMode === 'string' ? host.NetworkMode : 'default';
  if (mode === 'host' || mode.startsWith('container:')) add('no-host-namespaces', 'HostConfig.NetworkMode', `NetworkMode ${mode} shares another namespace`);
  if (typeof host.IpcMode === 'string' && !['private', 'none'].includes(host.IpcMode)) add('no-host-namespaces', 'HostConfig.IpcMode', `IpcMode ${host.IpcMode} shares another namespace`);
  const [uid, gid] = String(create.User ?? '').split(':');
  if (!uid || !/^\d+$/.test(uid) || Number(uid) === 0 || (gid !== undefined && (!/^\d+$/.test(gid) || Number(gid) === 0))) add('no-root-user', 'User', 'User must be a numeric non-zero uid[:gid]');
  const number = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
  const memory = number(host.Memory);
  const nanoCpus = number(host.NanoCpus);
  const pids = number(host.PidsLimit);
  // 0 (or a negative value) means "no limit" to Docker.
  if (memory === undefined || memory <= 0) add('limits-required', 'HostConfig.Memory', 'Memory must be set above 0');
  else if (memory > ceilings.memory) add('resource-ceiling', 'HostConfig.Memory', `Memory ${memory} is above the ceiling (${ceilings.memory})`);
  if (host.MemorySwap !== undefined && host.MemorySwap !== host.Memory) add('no-swap', 'HostConfig.MemorySwap', 'MemorySwap must equal Memory');
  if (nanoCpus === undefined || nanoCpus <= 0) add('limits-required', 'HostConfig.NanoCpus', 'NanoCpus must be set above 0');
  else if (nanoCpus > ceilings.cpu * 1e6) add('resource-ceiling', 'HostConfig.NanoCpus', `NanoCpus ${nanoCpus} is above the ceiling (${ceilings.cpu * 1e6})`);
  if (pids === undefined || pids <= 0) add('limits-required', 'HostConfig.PidsLimit', 'PidsLimit must be set above 0');
  else if (pids > ceilings.pids) add('resource-ceiling', 'HostConfig.PidsLimit', `PidsLimit ${pids} is above the ceiling (${ceilings.pids})`);
  for (const [path, options] of Object.entries(obj(host.Tmpfs))) {
    const parts = String(options).split(',');
    if (!parts.includes('nosuid') || !parts.some((part) => part.startsWith('size='))) add('tmpfs-options', ['HostConfig', 'Tmpfs', path], `tmpfs ${path} needs nosuid and size=`);
  }
  list(create.Env).forEach((entry, index) => {
    const name = String(entry).split('=')[0]!;
    if (isLoaderVariable(name) && !allow.environment.includes(name)) add('no-loader-env', ['Env', index], `${name} changes the dynamic loader or the shell`);
  });
  return out;
}

/** The Engine API create body's security-relevant part, for an execution the engine rendered. */
export function createBodyOf(execution: DockerExecution): Obj {
  const { container, host } = execution;
  const pascal = (value: Obj) => Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined).map(([key, item]) => [key[0]!.toUpperCase() + key.slice(1), item]));
  return { ...pascal(container as Obj), HostConfig: pascal(host as Obj) };
}

/** Create-body path → the rendered execution path lint and explain know (`HostConfig.Memory` → `host.memory`). */
function executionPath(path: string): string {
  const camel = (segment: string) => segment[0]!.toLowerCase() + segment.slice(1);
  const host = /^HostConfig\.([A-Za-z]+)(.*)$/.exec(path);
  if (host) return `docker.execution.host.${camel(host[1]!)}${host[2]}`;
  const top = /^([A-Za-z]+)(.*)$/.exec(path);
  return top ? `docker.execution.container.${camel(top[1]!)}${top[2]}` : `docker.execution.${path}`;
}

/**
 * Both renderings of one session: the pod, the Docker container, the answer's environment, and
 * that the two backends agree on image and limits.
 */
export function checkGuardrails(rendered: Pick<Rendered, 'docker' | 'pod'> & Partial<Pick<Rendered, 'environment'>>, context: CheckContext): Violation[] {
  const { out, add } = collector();
  for (const violation of checkPod(rendered.pod, context)) add(violation.rule, `pod.${violation.path}`, violation.message, violation.source);
  const execution = rendered.docker.execution;
  for (const violation of checkDockerCreate(createBodyOf(execution), context)) add(violation.rule, executionPath(violation.path), violation.message, violation.source);
  // A policy's labels only: the pods and containers the gateway creates carry these, set by it.
  const podMetadata = obj(rendered.pod.metadata);
  for (const [field, map, at] of [
    ['labels', podMetadata.labels, 'pod.metadata.labels'],
    ['annotations', podMetadata.annotations, 'pod.metadata.annotations'],
    ['labels', execution.container.labels, 'docker.execution.container.labels'],
  ] as const) {
    for (const key of Object.keys(obj(map))) {
      if (isReservedKey(key)) add('reserved-labels', `${at}${formatPath([key])}`, `${field.slice(0, -1)} ${key} belongs to the gateway's bookkeeping`);
    }
  }
  for (const name of Object.keys(rendered.environment ?? {})) {
    if (isLoaderVariable(name) && !context.allow.environment.includes(name)) add('no-loader-env', ['environment', name], `${name} changes the dynamic loader or the shell`);
  }

  // ---- both renderings describe the same session ----
  const d = 'docker.execution';
  const host = execution.host;
  const container = obj(list(obj(rendered.pod.spec).containers)[0]);
  if (container.image !== undefined && container.image !== execution.container.image) add('backends-agree', `${d}.container.image`, 'the Docker image and the pod image differ');
  const limits = obj(obj(container.resources).limits);
  const podMemory = limits.memory === undefined ? undefined : memoryBytes(String(limits.memory));
  if (podMemory !== undefined && host.memory !== undefined && podMemory !== host.memory) add('backends-agree', `${d}.host.memory`, 'the Docker memory limit and the pod memory limit differ');
  const podCpu = limits.cpu === undefined ? undefined : cpuMillis(String(limits.cpu));
  if (podCpu !== undefined && host.nanoCpus !== undefined && podCpu * 1e6 !== host.nanoCpus) add('backends-agree', `${d}.host.nanoCpus`, 'the Docker CPU limit and the pod CPU limit differ');
  return out;
}
