/**
 * The Kubernetes Pod Security Standards, `baseline` and `restricted` levels, as Pod Security
 * Admission enforces them at policy version v1.37 (k8s.io/pod-security-admission policy/check_*.go).
 * Check ids are upstream's; `pod-security.test.ts` runs every upstream fixture through this.
 */
import { formatPath, type Segment } from './path.ts';

export type PodSecurityLevel = 'baseline' | 'restricted';

export interface PodSecurityViolation {
  readonly check: string;
  /** Field path inside the pod (`spec.containers[0].securityContext.privileged`). */
  readonly path: string;
  readonly message: string;
}

type Obj = Record<string, unknown>;
const obj = (value: unknown): Obj => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Obj) : {});
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE',
  'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT',
]);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  // Added to the safe set in v1.37.
  'net.ipv4.tcp_slow_start_after_idle', 'net.ipv4.tcp_notsent_lowat',
]);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
const RESTRICTED_VOLUME_SOURCES = new Set([
  'configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'image', 'persistentVolumeClaim', 'projected', 'secret',
]);
const APPARMOR_ANNOTATION = 'container.apparmor.security.beta.kubernetes.io/';

interface ContainerRef {
  readonly container: Obj;
  readonly path: Segment[];
}

function containersOf(spec: Obj): ContainerRef[] {
  const refs: ContainerRef[] = [];
  for (const kind of ['initContainers', 'containers', 'ephemeralContainers'] as const) {
    list(spec[kind]).forEach((container, index) => refs.push({ container: obj(container), path: ['spec', kind, index] }));
  }
  return refs;
}

/** Every violation of `level` in `pod` (restricted includes baseline); empty when admitted. */
export function checkPodSecurity(pod: unknown, level: PodSecurityLevel = 'restricted'): PodSecurityViolation[] {
  const out: PodSecurityViolation[] = [];
  const add = (check: string, path: Segment[], message: string) => out.push({ check, path: formatPath(path), message });
  const metadata = obj(obj(pod).metadata);
  const spec = obj(obj(pod).spec);
  const podContext = obj(spec.securityContext);
  const containers = containersOf(spec);
  const windows = obj(spec.os).name === 'windows';

  // ---- baseline ----
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'] as const) {
    if (spec[field] === true) add('hostNamespaces', ['spec', field], `${field} must not be true`);
  }
  const hostProcess = (context: Obj) => obj(context.windowsOptions).hostProcess === true;
  if (hostProcess(podContext)) add('windowsHostProcess', ['spec', 'securityContext', 'windowsOptions', 'hostProcess'], 'hostProcess must not be true');
  for (const { container, path } of containers) {
    const context = obj(container.securityContext);
    const at = [...path, 'securityContext'];
    if (hostProcess(context)) add('windowsHostProcess', [...at, 'windowsOptions', 'hostProcess'], 'hostProcess must not be true');
    if (context.privileged === true) add('privileged', [...at, 'privileged'], 'privileged must not be true');
    list(obj(context.capabilities).add).forEach((capability, index) => {
      if (!BASELINE_CAPABILITIES.has(String(capability))) add('capabilities_baseline', [...at, 'capabilities', 'add', index], `capability ${String(capability)} is not allowed`);
    });
    list(container.ports).forEach((port, index) => {
      const hostPort = obj(port).hostPort;
      if (typeof hostPort === 'number' && hostPort !== 0) add('hostPorts', [...path, 'ports', index, 'hostPort'], 'hostPort must be unset or 0');
    });
    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
      for (const handler of ['httpGet', 'tcpSocket'] as const) {
        const host = obj(obj(container[probe])[handler]).host;
        if (typeof host === 'string' && host !== '') add('hostProbesAndHostLifecycle', [...path, probe, handler, 'host'], `${probe} must not set a host`);
      }
    }
    for (const hook of ['postStart', 'preStop'] as const) {
      for (const handler of ['httpGet', 'tcpSocket'] as const) {
        const host = obj(obj(obj(container.lifecycle)[hook])[handler]).host;
        if (typeof host === 'string' && host !== '') add('hostProbesAndHostLifecycle', [...path, 'lifecycle', hook, handler, 'host'], `${hook} must not set a host`);
      }
    }
  }
  list(spec.volumes).forEach((volume, index) => {
    if (obj(volume).hostPath !== undefined) add('hostPathVolumes', ['spec', 'volumes', index, 'hostPath'], 'hostPath volumes are not allowed');
  });
  const annotations = obj(metadata.annotations);
  for (const [key, value] of Object.entries(annotations)) {
    if (key.startsWith(APPARMOR_ANNOTATION) && value !== 'runtime/default' && !String(value).startsWith('localhost/')) {
      add('appArmorProfile', ['metadata', 'annotations', key], 'AppArmor profile must be runtime/default or localhost/*');
    }
  }
  const appArmorField = (context: Obj, at: Segment[]) => {
    const type = obj(context.appArmorProfile).type;
    if (type !== undefined && type !== 'RuntimeDefault' && type !== 'Localhost') add('appArmorProfile', [...at, 'appArmorProfile', 'type'], 'AppArmor profile must be RuntimeDefault or Localhost');
  };
  appArmorField(podContext, ['spec', 'securityContext']);
  const seLinux = (context: Obj, at: Segment[]) => {
    if (context.seLinuxOptions === undefined) return;
    const options = obj(context.seLinuxOptions);
    if (options.type !== undefined && !SELINUX_TYPES.has(String(options.type))) add('seLinuxOptions', [...at, 'seLinuxOptions', 'type'], 'SELinux type is not allowed');
    for (const field of ['user', 'role'] as const) {
      if (options[field] !== undefined && options[field] !== '') add('seLinuxOptions', [...at, 'seLinuxOptions', field], `SELinux ${field} must not be set`);
    }
  };
  seLinux(podContext, ['spec', 'securityContext']);
  const hostUsersOff = spec.hostUsers === false;
  for (const { container, path } of containers) {
    const context = obj(container.securityContext);
    const at = [...path, 'securityContext'];
    appArmorField(context, at);
    seLinux(context, at);
    const procMount = context.procMount;
    // Baseline allows an unmasked /proc only inside a user namespace (hostUsers: false).
    if (procMount !== undefined && procMount !== 'Default' && !hostUsersOff) add('procMount', [...at, 'procMount'], 'procMount must be Default');
    if (level === 'restricted' && procMount !== undefined && procMount !== 'Default') add('procMount_restricted', [...at, 'procMount'], 'procMount must be Default');
  }
  const unconfined = (context: Obj) => obj(context.seccompProfile).type === 'Unconfined';
  if (unconfined(podContext)) add('seccompProfile_baseline', ['spec', 'securityContext', 'seccompProfile', 'type'], 'seccomp must not be Unconfined');
  for (const { container, path } of containers) {
    if (unconfined(obj(container.securityContext))) add('seccompProfile_baseline', [...path, 'securityContext', 'seccompProfile', 'type'], 'seccomp must not be Unconfined');
  }
  list(podContext.sysctls).forEach((sysctl, index) => {
    if (!SAFE_SYSCTLS.has(String(obj(sysctl).name))) add('sysctls', ['spec', 'securityContext', 'sysctls', index, 'name'], `sysctl ${String(obj(sysctl).name)} is not in the safe set`);
  });
  if (level === 'baseline') return out;

  // ---- restricted ----
  list(spec.volumes).forEach((volume, index) => {
    const sources = Object.keys(obj(volume)).filter((key) => key !== 'name');
    // A volume with no source is an emptyDir to the API server's defaulting.
    for (const source of sources) {
      if (!RESTRICTED_VOLUME_SOURCES.has(source)) add('restrictedVolumes', ['spec', 'volumes', index, source], `volume type ${source} is not allowed`);
    }
  });
  const podNonRoot = podContext.runAsNonRoot;
  if (podNonRoot === false) add('runAsNonRoot', ['spec', 'securityContext', 'runAsNonRoot'], 'runAsNonRoot must be true');
  if (podContext.runAsUser === 0) add('runAsUser', ['spec', 'securityContext', 'runAsUser'], 'runAsUser must not be 0');
  const podSeccomp = obj(podContext.seccompProfile).type;
  const podSeccompOk = podSeccomp === 'RuntimeDefault' || podSeccomp === 'Localhost';
  for (const { container, path } of containers) {
    const context = obj(container.securityContext);
    const at = [...path, 'securityContext'];
    if (context.runAsNonRoot === false) add('runAsNonRoot', [...at, 'runAsNonRoot'], 'runAsNonRoot must be true');
    else if (context.runAsNonRoot !== true && podNonRoot !== true) add('runAsNonRoot', [...at, 'runAsNonRoot'], 'runAsNonRoot must be true on the pod or every container');
    if (context.runAsUser === 0) add('runAsUser', [...at, 'runAsUser'], 'runAsUser must not be 0');
    // Windows pods are exempt from these three (v1.25+).
    if (windows) continue;
    if (context.allowPrivilegeEscalation !== false) add('allowPrivilegeEscalation', [...at, 'allowPrivilegeEscalation'], 'allowPrivilegeEscalation must be false');
    const capabilities = obj(context.capabilities);
    if (!list(capabilities.drop).includes('ALL')) add('capabilities_restricted', [...at, 'capabilities', 'drop'], 'capabilities must drop ALL');
    list(capabilities.add).forEach((capability, index) => {
      if (capability !== 'NET_BIND_SERVICE') add('capabilities_restricted', [...at, 'capabilities', 'add', index], 'only NET_BIND_SERVICE may be added');
    });
    const type = obj(context.seccompProfile).type;
    if (type === undefined ? !podSeccompOk : type !== 'RuntimeDefault' && type !== 'Localhost') {
      add('seccompProfile_restricted', [...at, 'seccompProfile', 'type'], 'seccomp must be RuntimeDefault or Localhost');
    }
  }
  if (!windows && podSeccomp !== undefined && !podSeccompOk) {
    add('seccompProfile_restricted', ['spec', 'securityContext', 'seccompProfile', 'type'], 'seccomp must be RuntimeDefault or Localhost');
  }
  return out;
}
