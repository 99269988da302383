/**
 * Pod Security Standards as the PodSecurity admission plugin enforces them (policy version
 * "latest"), written for this test server alone: the gateway and configserver have their own
 * checker, and a shared one would let a bug hide in both. Each violation reads
 * `<reason> (<detail>)`, as in `violates PodSecurity "restricted:latest": ...`.
 *
 * Checks run baseline first, then restricted, each group by check id; a restricted check
 * replaces the baseline check it tightens (capabilities, seccompProfile, procMount).
 */
import type { KubeObject } from './store.ts';

type Obj = Record<string, unknown>;

interface Violation {
  reason: string;
  detail?: string;
}

interface NamedContainer {
  name: string;
  sc: Obj;
  raw: Obj;
}

function obj(v: unknown): Obj {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {};
}

function list(v: unknown): Obj[] {
  return Array.isArray(v) ? v.map(obj) : [];
}

function pluralize(singular: string, plural: string, n: number): string {
  return n === 1 ? singular : plural;
}

function joinQuote(items: readonly unknown[]): string {
  return items.map((i) => JSON.stringify(String(i))).join(', ');
}

function containersPhrase(names: string[]): string {
  return `${pluralize('container', 'containers', names.length)} ${joinQuote(names)}`;
}

/** initContainers, containers, ephemeralContainers: the order the plugin visits them in. */
function containersOf(spec: Obj): NamedContainer[] {
  return [...list(spec.initContainers), ...list(spec.containers), ...list(spec.ephemeralContainers)].map((c) => ({
    name: String(c.name ?? ''),
    sc: obj(c.securityContext),
    raw: c,
  }));
}

const isWindows = (spec: Obj) => obj(spec.os).name === 'windows';

type Check = (pod: KubeObject, spec: Obj, podSc: Obj, containers: NamedContainer[]) => Violation | undefined;

const ALLOWED_BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);

const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  'net.ipv4.tcp_rmem',
  'net.ipv4.tcp_wmem',
  'net.ipv4.tcp_slow_start_after_idle',
  'net.ipv4.tcp_notsent_lowat',
]);

const ALLOWED_SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);

const ALLOWED_VOLUME_TYPES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'image', 'persistentVolumeClaim', 'projected', 'secret']);

/** "pod", `container "a"`, joined with " and " as the plugin names who set a field. */
function setters(pod: boolean, names: string[]): string {
  const parts: string[] = [];
  if (pod) parts.push('pod');
  if (names.length > 0) parts.push(containersPhrase(names));
  return parts.join(' and ');
}

const baseline: Record<string, Check> = {
  appArmorProfile: (pod, _spec, podSc, containers) => {
    const bad: string[] = [];
    const badType = (p: unknown) => {
      const type = obj(p).type;
      return type !== undefined && type !== 'RuntimeDefault' && type !== 'Localhost';
    };
    if (badType(podSc.appArmorProfile)) bad.push(`pod must not set securityContext.appArmorProfile.type to ${JSON.stringify(obj(podSc.appArmorProfile).type)}`);
    const badContainers = containers.filter((c) => badType(c.sc.appArmorProfile));
    if (badContainers.length > 0)
      bad.push(
        `${containersPhrase(badContainers.map((c) => c.name))} must not set securityContext.appArmorProfile.type to ${joinQuote([...new Set(badContainers.map((c) => obj(c.sc.appArmorProfile).type))])}`,
      );
    for (const [key, value] of Object.entries(pod.metadata.annotations ?? {}).sort()) {
      if (!key.startsWith('container.apparmor.security.beta.kubernetes.io/')) continue;
      if (value === '' || value === 'runtime/default' || value.startsWith('localhost/')) continue;
      bad.push(`${key}=${JSON.stringify(value)}`);
    }
    if (bad.length === 0) return undefined;
    return { reason: pluralize('forbidden AppArmor profile', 'forbidden AppArmor profiles', bad.length), detail: bad.join(', ') };
  },
  capabilities_baseline: (_pod, _spec, _podSc, containers) => {
    const names: string[] = [];
    const caps = new Set<string>();
    for (const c of containers) {
      const added = (obj(c.sc.capabilities).add as string[] | undefined) ?? [];
      const bad = added.filter((a) => !ALLOWED_BASELINE_CAPABILITIES.has(a));
      if (bad.length > 0) {
        names.push(c.name);
        for (const b of bad) caps.add(b);
      }
    }
    if (names.length === 0) return undefined;
    return {
      reason: 'non-default capabilities',
      detail: `${containersPhrase(names)} must not include ${joinQuote([...caps].sort())} in securityContext.capabilities.add`,
    };
  },
  hostNamespaces: (_pod, spec) => {
    const set = (['hostNetwork', 'hostPID', 'hostIPC'] as const).filter((k) => spec[k] === true).map((k) => `${k}=true`);
    return set.length > 0 ? { reason: 'host namespaces', detail: set.join(', ') } : undefined;
  },
  hostPathVolumes: (_pod, spec) => {
    const names = list(spec.volumes)
      .filter((v) => v.hostPath !== undefined)
      .map((v) => String(v.name));
    return names.length > 0 ? { reason: 'hostPath volumes', detail: `${pluralize('volume', 'volumes', names.length)} ${joinQuote(names)}` } : undefined;
  },
  hostPorts: (_pod, _spec, _podSc, containers) => {
    const names: string[] = [];
    const ports: number[] = [];
    for (const c of containers) {
      const used = list(c.raw.ports)
        .map((p) => Number(p.hostPort ?? 0))
        .filter((p) => p !== 0);
      if (used.length > 0) {
        names.push(c.name);
        ports.push(...used);
      }
    }
    if (names.length === 0) return undefined;
    return {
      reason: 'hostPort',
      detail: `${containersPhrase(names)} ${pluralize('uses', 'use', names.length)} ${pluralize('hostPort', 'hostPorts', ports.length)} ${ports.join(', ')}`,
    };
  },
  hostProbesAndHostLifecycle: (_pod, _spec, _podSc, containers) => {
    const names: string[] = [];
    const hosts = new Set<string>();
    for (const c of containers) {
      const handlers = [obj(c.raw.livenessProbe), obj(c.raw.readinessProbe), obj(c.raw.startupProbe), obj(obj(c.raw.lifecycle).postStart), obj(obj(c.raw.lifecycle).preStop)];
      const found = handlers.flatMap((h) => [obj(h.httpGet).host, obj(h.tcpSocket).host]).filter((h): h is string => typeof h === 'string' && h !== '');
      if (found.length > 0) {
        names.push(c.name);
        for (const h of found) hosts.add(h);
      }
    }
    if (names.length === 0) return undefined;
    return {
      reason: 'probe or lifecycle host',
      detail: `${containersPhrase(names)} ${pluralize('uses', 'use', names.length)} ${pluralize('probe or lifecycle host', 'probe or lifecycle hosts', hosts.size)} ${joinQuote([...hosts])}`,
    };
  },
  privileged: (_pod, _spec, _podSc, containers) => {
    const names = containers.filter((c) => c.sc.privileged === true).map((c) => c.name);
    return names.length > 0 ? { reason: 'privileged', detail: `${containersPhrase(names)} must not set securityContext.privileged=true` } : undefined;
  },
  procMount: (_pod, spec, _podSc, containers) => {
    // With a user namespace (hostUsers: false) an unmasked /proc is allowed at baseline.
    if (spec.hostUsers === false) return undefined;
    return procMountViolation(containers);
  },
  seLinuxOptions: (_pod, _spec, podSc, containers) => {
    const values = new Set<string>();
    const badOptions = (o: Obj) => {
      const found: string[] = [];
      if (o.type !== undefined && !ALLOWED_SELINUX_TYPES.has(String(o.type))) found.push(`type ${JSON.stringify(String(o.type))}`);
      if (o.user !== undefined && o.user !== '') found.push(`user ${JSON.stringify(String(o.user))}`);
      if (o.role !== undefined && o.role !== '') found.push(`role ${JSON.stringify(String(o.role))}`);
      for (const f of found) values.add(f);
      return found.length > 0;
    };
    const podBad = badOptions(obj(podSc.seLinuxOptions));
    const names = containers.filter((c) => badOptions(obj(c.sc.seLinuxOptions))).map((c) => c.name);
    if (!podBad && names.length === 0) return undefined;
    return { reason: 'seLinuxOptions', detail: `${setters(podBad, names)} set forbidden securityContext.seLinuxOptions: ${[...values].join('; ')}` };
  },
  seccompProfile_baseline: (_pod, _spec, podSc, containers) => {
    const podBad = obj(podSc.seccompProfile).type === 'Unconfined';
    const names = containers.filter((c) => obj(c.sc.seccompProfile).type === 'Unconfined').map((c) => c.name);
    if (!podBad && names.length === 0) return undefined;
    return { reason: 'seccompProfile', detail: `${setters(podBad, names)} must not set securityContext.seccompProfile.type to "Unconfined"` };
  },
  sysctls: (_pod, _spec, podSc) => {
    const bad = list(podSc.sysctls)
      .map((s) => String(s.name))
      .filter((n) => !SAFE_SYSCTLS.has(n));
    return bad.length > 0 ? { reason: 'forbidden sysctls', detail: bad.join(', ') } : undefined;
  },
  windowsHostProcess: (_pod, _spec, podSc, containers) => {
    const podBad = obj(podSc.windowsOptions).hostProcess === true;
    const names = containers.filter((c) => obj(c.sc.windowsOptions).hostProcess === true).map((c) => c.name);
    if (!podBad && names.length === 0) return undefined;
    return { reason: 'hostProcess', detail: `${setters(podBad, names)} must not set securityContext.windowsOptions.hostProcess=true` };
  },
};

function procMountViolation(containers: NamedContainer[]): Violation | undefined {
  const bad = containers.filter((c) => c.sc.procMount !== undefined && c.sc.procMount !== 'Default');
  if (bad.length === 0) return undefined;
  return {
    reason: 'procMount',
    detail: `${containersPhrase(bad.map((c) => c.name))} must not set securityContext.procMount to ${joinQuote([...new Set(bad.map((c) => c.sc.procMount))])}`,
  };
}

const restricted: Record<string, Check> = {
  allowPrivilegeEscalation: (_pod, spec, _podSc, containers) => {
    if (isWindows(spec)) return undefined;
    const names = containers.filter((c) => c.sc.allowPrivilegeEscalation !== false).map((c) => c.name);
    return names.length > 0 ? { reason: 'allowPrivilegeEscalation != false', detail: `${containersPhrase(names)} must set securityContext.allowPrivilegeEscalation=false` } : undefined;
  },
  capabilities_restricted: (_pod, spec, _podSc, containers) => {
    if (isWindows(spec)) return undefined;
    const notDropping: string[] = [];
    const adding: string[] = [];
    const added = new Set<string>();
    for (const c of containers) {
      const caps = obj(c.sc.capabilities);
      if (!((caps.drop as string[] | undefined) ?? []).includes('ALL')) notDropping.push(c.name);
      const bad = ((caps.add as string[] | undefined) ?? []).filter((a) => a !== 'NET_BIND_SERVICE');
      if (bad.length > 0) {
        adding.push(c.name);
        for (const b of bad) added.add(b);
      }
    }
    const details: string[] = [];
    if (notDropping.length > 0) details.push(`${containersPhrase(notDropping)} must set securityContext.capabilities.drop=["ALL"]`);
    if (adding.length > 0) details.push(`${containersPhrase(adding)} must not include ${joinQuote([...added].sort())} in securityContext.capabilities.add`);
    return details.length > 0 ? { reason: 'unrestricted capabilities', detail: details.join('; ') } : undefined;
  },
  procMount_restricted: (_pod, _spec, _podSc, containers) => procMountViolation(containers),
  restrictedVolumes: (_pod, spec) => {
    const names: string[] = [];
    const types = new Set<string>();
    for (const v of list(spec.volumes)) {
      const type = Object.keys(v).find((k) => k !== 'name');
      if (type !== undefined && !ALLOWED_VOLUME_TYPES.has(type)) {
        names.push(String(v.name));
        types.add(type);
      }
    }
    if (names.length === 0) return undefined;
    return {
      reason: 'restricted volume types',
      detail: `${pluralize('volume', 'volumes', names.length)} ${joinQuote(names)} ${pluralize('uses', 'use', names.length)} ${pluralize('restricted volume type', 'restricted volume types', types.size)} ${joinQuote([...types])}`,
    };
  },
  runAsNonRoot: (_pod, _spec, podSc, containers) => {
    const podBad = podSc.runAsNonRoot === false;
    const explicit = containers.filter((c) => c.sc.runAsNonRoot === false).map((c) => c.name);
    const implicit = podSc.runAsNonRoot === true ? [] : containers.filter((c) => c.sc.runAsNonRoot === undefined).map((c) => c.name);
    const details: string[] = [];
    if (podBad || explicit.length > 0) details.push(`${setters(podBad, explicit)} must not set securityContext.runAsNonRoot=false`);
    if (implicit.length > 0) details.push(`pod or ${containersPhrase(implicit)} must set securityContext.runAsNonRoot=true`);
    return details.length > 0 ? { reason: 'runAsNonRoot != true', detail: details.join('; ') } : undefined;
  },
  runAsUser: (_pod, _spec, podSc, containers) => {
    const podBad = podSc.runAsUser === 0;
    const names = containers.filter((c) => c.sc.runAsUser === 0).map((c) => c.name);
    if (!podBad && names.length === 0) return undefined;
    return { reason: 'runAsUser=0', detail: `${setters(podBad, names)} must not set runAsUser=0` };
  },
  seccompProfile_restricted: (_pod, spec, podSc, containers) => {
    if (isWindows(spec)) return undefined;
    const valid = (t: unknown) => t === 'RuntimeDefault' || t === 'Localhost';
    const podType = obj(podSc.seccompProfile).type;
    const badValues = new Set<string>();
    const podBad = podType !== undefined && !valid(podType);
    if (podBad) badValues.add(String(podType));
    const explicit = containers.filter((c) => {
      const t = obj(c.sc.seccompProfile).type;
      if (t !== undefined && !valid(t)) {
        badValues.add(String(t));
        return true;
      }
      return false;
    });
    const implicit = podType === undefined ? containers.filter((c) => obj(c.sc.seccompProfile).type === undefined) : [];
    const details: string[] = [];
    if (podBad || explicit.length > 0)
      details.push(
        `${setters(
          podBad,
          explicit.map((c) => c.name),
        )} must not set securityContext.seccompProfile.type to ${joinQuote([...badValues])}`,
      );
    if (implicit.length > 0) details.push(`pod or ${containersPhrase(implicit.map((c) => c.name))} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`);
    return details.length > 0 ? { reason: 'seccompProfile', detail: details.join('; ') } : undefined;
  },
};

/** Baseline checks a restricted check replaces. */
const OVERRIDDEN_AT_RESTRICTED = new Set(['capabilities_baseline', 'seccompProfile_baseline', 'procMount']);

function byId(checks: Record<string, Check>): Array<[string, Check]> {
  return Object.entries(checks).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The violations of `pod` at `level`, each as `reason (detail)`; empty when it is allowed. */
export function checkPodSecurity(level: 'baseline' | 'restricted', pod: KubeObject): string[] {
  const spec = obj(pod.spec);
  const podSc = obj(spec.securityContext);
  const containers = containersOf(spec);
  const checks = byId(baseline).filter(([id]) => level === 'baseline' || !OVERRIDDEN_AT_RESTRICTED.has(id));
  if (level === 'restricted') checks.push(...byId(restricted));
  const out: string[] = [];
  for (const [, check] of checks) {
    const v = check(pod, spec, podSc, containers);
    if (v) out.push(v.detail ? `${v.reason} (${v.detail})` : v.reason);
  }
  return out;
}
