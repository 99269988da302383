/**
 * Guardrails: what every rendered session must satisfy, whatever the profiles say. The pod must
 * pass Pod Security `restricted` and the session-pod rules of the seed's Kyverno policy; the
 * Docker container must be the same hardened container; resources stay within the baseline's
 * ceilings. Overlays can set fields but never delete them, so a rule that demands the hardened
 * value is what makes relaxing a security field impossible.
 */
import type { Baseline } from './schema.ts';
import type { Rendered } from './merge.ts';
import { MANAGED_BY_LABEL, SESSION_LABEL } from './merge.ts';
import { checkPodSecurity } from './pod-security.ts';
import { cpuMillis, memoryBytes } from './quantity.ts';

export interface Violation {
  readonly rule: string;
  /** Rendered field path (`pod.spec.hostNetwork`, `docker.execution.host.readonlyRootfs`). */
  readonly path: string;
  readonly message: string;
}

/** Rule id → the fix a policy author should make. Lint prints it; the README lists it. */
export const RULES: Record<string, string> = {
  'no-privileged': 'remove privileged: true; sessions never run privileged',
  'no-privilege-escalation': 'keep allowPrivilegeEscalation: false / no-new-privileges',
  'no-added-capabilities': 'remove capabilities.add (and capAdd); a session shell needs no capabilities',
  'drop-all-capabilities': 'keep capabilities.drop: [ALL]',
  'no-host-namespaces': 'remove hostNetwork/hostPID/hostIPC (and Docker networkMode host)',
  'no-host-path': 'use an emptyDir with a sizeLimit instead of hostPath',
  'restricted-volumes': 'use emptyDir, configMap, secret, projected, downwardAPI, csi, ephemeral or persistentVolumeClaim volumes',
  'no-host-ports': 'remove hostPort; sessions are reached through the gateway',
  'run-as-non-root': 'keep runAsNonRoot: true',
  'no-root-user': 'use a non-zero uid/gid (runAsUser, runAsGroup, fsGroup, Docker user)',
  'no-token-automount': 'keep automountServiceAccountToken: false',
  'no-service-links': 'keep enableServiceLinks: false',
  'no-service-account': 'remove serviceAccountName; sessions get no API credentials',
  'read-only-root': 'keep readOnlyRootFilesystem: true (readonlyRootfs); write to /tmp or home',
  'seccomp-required': 'keep seccompProfile RuntimeDefault (or Localhost); never Unconfined',
  'no-unsafe-sysctls': 'remove sysctls outside the Pod Security safe set',
  'no-selinux-override': 'remove seLinuxOptions user/role and custom types',
  'no-apparmor-unconfined': 'use AppArmor RuntimeDefault or Localhost',
  'no-proc-mount': 'remove procMount or set it to Default',
  'no-host-probes': 'remove host from probes and lifecycle handlers',
  'no-windows-host-process': 'remove windowsOptions.hostProcess',
  'no-shared-process-namespace': 'remove shareProcessNamespace',
  'single-container': 'remove initContainers/ephemeralContainers/extra containers; the session pod runs one container',
  'limits-required': 'set CPU and memory requests and limits (resources:)',
  'resource-ceiling': 'lower the value to the baseline ceiling, or raise ceilings in baseline.yaml',
  'requests-within-limits': 'make requests no larger than limits',
  'no-swap': 'leave memorySwap equal to memory (use resources.limits.memory)',
  'restart-never': 'keep restartPolicy: Never',
  'session-labels': `keep the labels ${MANAGED_BY_LABEL} and ${SESSION_LABEL}: "true"`,
  'volume-size-limit': 'give every emptyDir a sizeLimit',
  'tmpfs-options': 'tmpfs mounts need nosuid and a size=',
  'backends-agree': 'set images and resources with overlay.image / overlay.resources, not raw pod or docker fields',
};

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

/** Effective ceilings: those declared, else the baseline's own limits. */
export function ceilingsOf(baseline: Baseline, basePod: Obj): { cpu: number; memory: number; pids: number } {
  const limits = obj(obj(obj(list(obj(basePod.spec).containers)[0]).resources).limits);
  return {
    cpu: cpuMillis(baseline.ceilings.cpu ?? String(limits.cpu ?? '')) ?? Math.round((baseline.docker.execution.host.nanoCpus ?? 1e9) / 1e6),
    memory: memoryBytes(baseline.ceilings.memory ?? String(limits.memory ?? '')) ?? baseline.docker.execution.host.memory ?? 512 * 2 ** 20,
    pids: baseline.ceilings.pids ?? baseline.docker.execution.host.pidsLimit ?? 256,
  };
}

export function checkGuardrails(rendered: Pick<Rendered, 'docker' | 'pod'>, ceilings: { cpu: number; memory: number; pids: number }): Violation[] {
  const out: Violation[] = [];
  const seen = new Set<string>();
  const add = (rule: string, path: string, message: string) => {
    const key = `${rule} ${path}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ rule, path, message });
  };
  const pod = rendered.pod;
  for (const violation of checkPodSecurity(pod, 'restricted')) {
    add(ruleForCheck(violation.check, violation.path), `pod.${violation.path}`, `Pod Security restricted, check ${violation.check}: ${violation.message}`);
  }
  const metadata = obj(pod.metadata);
  const spec = obj(pod.spec);
  const context = obj(spec.securityContext);
  const labels = obj(metadata.labels);
  if (labels[SESSION_LABEL] !== 'true') add('session-labels', `pod.metadata.labels["${SESSION_LABEL}"]`, `label ${SESSION_LABEL} must be "true"`);
  if (typeof labels[MANAGED_BY_LABEL] !== 'string') add('session-labels', `pod.metadata.labels["${MANAGED_BY_LABEL}"]`, `label ${MANAGED_BY_LABEL} must be set`);
  if (spec.automountServiceAccountToken !== false) add('no-token-automount', 'pod.spec.automountServiceAccountToken', 'automountServiceAccountToken must be false');
  if (spec.enableServiceLinks !== false) add('no-service-links', 'pod.spec.enableServiceLinks', 'enableServiceLinks must be false');
  if (spec.serviceAccountName !== undefined || spec.serviceAccount !== undefined) add('no-service-account', 'pod.spec.serviceAccountName', 'session pods use no service account of their own');
  if (spec.shareProcessNamespace === true) add('no-shared-process-namespace', 'pod.spec.shareProcessNamespace', 'shareProcessNamespace must not be true');
  if (spec.restartPolicy !== 'Never') add('restart-never', 'pod.spec.restartPolicy', 'restartPolicy must be Never');
  if (context.runAsNonRoot !== true) add('run-as-non-root', 'pod.spec.securityContext.runAsNonRoot', 'runAsNonRoot must be true on the pod');
  for (const field of ['runAsUser', 'runAsGroup', 'fsGroup'] as const) {
    const value = context[field];
    if (typeof value !== 'number' || value <= 0) add('no-root-user', `pod.spec.securityContext.${field}`, `${field} must be a fixed non-zero id`);
  }
  for (const kind of ['initContainers', 'ephemeralContainers'] as const) {
    if (list(spec[kind]).length > 0) add('single-container', `pod.spec.${kind}`, `${kind} are not allowed in session pods`);
  }
  const containers = list(spec.containers);
  if (containers.length !== 1) add('single-container', 'pod.spec.containers', 'the session pod runs exactly one container');
  containers.forEach((raw, index) => {
    const container = obj(raw);
    const at = `pod.spec.containers[${index}]`;
    const security = obj(container.securityContext);
    if (security.readOnlyRootFilesystem !== true) add('read-only-root', `${at}.securityContext.readOnlyRootFilesystem`, 'readOnlyRootFilesystem must be true');
    if (list(obj(security.capabilities).add).length > 0) add('no-added-capabilities', `${at}.securityContext.capabilities.add`, 'no capabilities may be added');
    for (const field of ['runAsUser', 'runAsGroup'] as const) {
      if (security[field] === 0) add('no-root-user', `${at}.securityContext.${field}`, `${field} must not be 0`);
    }
    const resources = obj(container.resources);
    const limits = obj(resources.limits);
    const requests = obj(resources.requests);
    for (const [kind, values] of [['limits', limits], ['requests', requests]] as const) {
      for (const resource of ['cpu', 'memory'] as const) {
        if (values[resource] === undefined) add('limits-required', `${at}.resources.${kind}.${resource}`, `${kind}.${resource} must be set`);
      }
    }
    const memory = limits.memory === undefined ? undefined : memoryBytes(String(limits.memory));
    const cpu = limits.cpu === undefined ? undefined : cpuMillis(String(limits.cpu));
    if (memory !== undefined && memory > ceilings.memory) add('resource-ceiling', `${at}.resources.limits.memory`, `memory limit ${String(limits.memory)} is above the ceiling (${ceilings.memory} bytes)`);
    if (cpu !== undefined && cpu > ceilings.cpu) add('resource-ceiling', `${at}.resources.limits.cpu`, `CPU limit ${String(limits.cpu)} is above the ceiling (${ceilings.cpu}m)`);
    const requestMemory = requests.memory === undefined ? undefined : memoryBytes(String(requests.memory));
    const requestCpu = requests.cpu === undefined ? undefined : cpuMillis(String(requests.cpu));
    if (requestMemory !== undefined && memory !== undefined && requestMemory > memory) add('requests-within-limits', `${at}.resources.requests.memory`, 'memory request exceeds the limit');
    if (requestCpu !== undefined && cpu !== undefined && requestCpu > cpu) add('requests-within-limits', `${at}.resources.requests.cpu`, 'CPU request exceeds the limit');
  });
  list(spec.volumes).forEach((raw, index) => {
    const volume = obj(raw);
    if (volume.emptyDir !== undefined && obj(volume.emptyDir).sizeLimit === undefined) add('volume-size-limit', `pod.spec.volumes[${index}].emptyDir.sizeLimit`, 'emptyDir needs a sizeLimit');
  });

  // ---- the Docker container: the same hardened session ----
  const execution = rendered.docker.execution;
  const host = execution.host;
  const d = 'docker.execution';
  if (host.readonlyRootfs !== true) add('read-only-root', `${d}.host.readonlyRootfs`, 'readonlyRootfs must be true');
  if (!host.capDrop?.includes('ALL')) add('drop-all-capabilities', `${d}.host.capDrop`, 'capDrop must contain ALL');
  const securityOpt = host.securityOpt ?? [];
  if (!securityOpt.some((option) => /^no-new-privileges(:true|=true)?$/.test(option))) add('no-privilege-escalation', `${d}.host.securityOpt`, 'securityOpt must contain no-new-privileges:true');
  securityOpt.forEach((option, index) => {
    if (/^(seccomp|apparmor)[:=]unconfined$|^label[:=]disable$/.test(option)) add('seccomp-required', `${d}.host.securityOpt[${index}]`, `securityOpt ${option} turns confinement off`);
    if (/^no-new-privileges[:=]false$/.test(option)) add('no-privilege-escalation', `${d}.host.securityOpt[${index}]`, 'no-new-privileges must not be false');
  });
  const mode = host.networkMode ?? 'default';
  if (mode === 'host' || mode.startsWith('container:')) add('no-host-namespaces', `${d}.host.networkMode`, `networkMode ${mode} shares another namespace`);
  const [uid, gid] = (execution.container.user ?? '').split(':');
  if (!uid || Number(uid) === 0 || (gid !== undefined && Number(gid) === 0)) add('no-root-user', `${d}.container.user`, 'user must be a non-zero uid:gid');
  if (host.memory === undefined) add('limits-required', `${d}.host.memory`, 'memory must be set');
  else if (host.memory > ceilings.memory) add('resource-ceiling', `${d}.host.memory`, `memory ${host.memory} is above the ceiling (${ceilings.memory})`);
  if (host.memorySwap !== undefined && host.memory !== undefined && host.memorySwap !== host.memory) add('no-swap', `${d}.host.memorySwap`, 'memorySwap must equal memory');
  if (host.nanoCpus === undefined) add('limits-required', `${d}.host.nanoCpus`, 'nanoCpus must be set');
  else if (host.nanoCpus > ceilings.cpu * 1e6) add('resource-ceiling', `${d}.host.nanoCpus`, `nanoCpus ${host.nanoCpus} is above the ceiling (${ceilings.cpu * 1e6})`);
  if (host.pidsLimit === undefined) add('limits-required', `${d}.host.pidsLimit`, 'pidsLimit must be set');
  else if (host.pidsLimit > ceilings.pids) add('resource-ceiling', `${d}.host.pidsLimit`, `pidsLimit ${host.pidsLimit} is above the ceiling (${ceilings.pids})`);
  for (const [path, options] of Object.entries(host.tmpfs ?? {})) {
    const parts = options.split(',');
    if (!parts.includes('nosuid') || !parts.some((part) => part.startsWith('size='))) add('tmpfs-options', `${d}.host.tmpfs["${path}"]`, `tmpfs ${path} needs nosuid and size=`);
  }

  // ---- both renderings describe the same session ----
  const container = obj(containers[0]);
  if (container.image !== undefined && container.image !== execution.container.image) add('backends-agree', `${d}.container.image`, 'the Docker image and the pod image differ');
  const podMemory = memoryBytes(String(obj(obj(container.resources).limits).memory ?? ''));
  if (podMemory !== undefined && host.memory !== undefined && podMemory !== host.memory) add('backends-agree', `${d}.host.memory`, 'the Docker memory limit and the pod memory limit differ');
  const podCpu = cpuMillis(String(obj(obj(container.resources).limits).cpu ?? ''));
  if (podCpu !== undefined && host.nanoCpus !== undefined && podCpu * 1e6 !== host.nanoCpus) add('backends-agree', `${d}.host.nanoCpus`, 'the Docker CPU limit and the pod CPU limit differ');
  return out;
}
