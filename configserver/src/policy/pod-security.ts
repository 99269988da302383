/**
 * The Kubernetes Pod Security Standards, `baseline` and `restricted` levels, as Pod Security
 * Admission enforces them at policy version v1.37 (k8s.io/pod-security-admission policy/check_*.go).
 * Check ids are upstream's; `pod-security.test.ts` runs every upstream fixture through this.
 *
 * Go's view of the pod is kept: a field set to `null` is unset (a nil pointer), and a security
 * object that is present but empty (`seccompProfile: {}`) is set, with an empty type.
 */
import { formatPath, type Segment } from './path.ts';

export type PodSecurityLevel = 'baseline' | 'restricted';

/** The policy version these checks reproduce (`pod-security.kubernetes.io/enforce-version`). */
export const POD_SECURITY_VERSION = 'v1.37';

export interface PodSecurityViolation {
  readonly check: string;
  /** Field path inside the pod (`spec.containers[0].securityContext.privileged`). */
  readonly path: string;
  readonly message: string;
}

/**
 * Baseline checks a restricted check replaces (upstream `OverrideCheckIDs`): at `restricted` only
 * the stricter one runs, so a finding is named once, by the check Kubernetes names.
 */
export const OVERRIDDEN_AT_RESTRICTED: Readonly<Record<string, string>> = {
  hostPathVolumes: 'restrictedVolumes',
  seccompProfile_baseline: 'seccompProfile_restricted',
  capabilities_baseline: 'capabilities_restricted',
  procMount: 'procMount_restricted',
};

type Obj = Record<string, unknown>;
const obj = (value: unknown): Obj => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Obj) : {});
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
/** Set as Go sees it: present and not null. */
const isSet = (value: unknown): boolean => value !== undefined && value !== null;

const BASELINE_CAPABILITIES = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  // policy v1.27
  'net.ipv4.ip_local_reserved_ports',
  // policy v1.29
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  // policy v1.32
  'net.ipv4.tcp_rmem',
  'net.ipv4.tcp_wmem',
  // policy v1.37
  'net.ipv4.tcp_slow_start_after_idle',
  'net.ipv4.tcp_notsent_lowat',
]);
/** v1.31 added container_engine_t. */
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
/** VolumeSource fields of core/v1; a key outside this list is not a volume source to the API server. */
const VOLUME_SOURCES = new Set([
  'awsElasticBlockStore',
  'azureDisk',
  'azureFile',
  'cephfs',
  'cinder',
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'fc',
  'flexVolume',
  'flocker',
  'gcePersistentDisk',
  'gitRepo',
  'glusterfs',
  'hostPath',
  'image',
  'iscsi',
  'nfs',
  'persistentVolumeClaim',
  'photonPersistentDisk',
  'portworxVolume',
  'projected',
  'quobyte',
  'rbd',
  'scaleIO',
  'secret',
  'storageos',
  'vsphereVolume',
]);
const RESTRICTED_VOLUME_SOURCES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'image', 'persistentVolumeClaim', 'projected', 'secret']);
const APPARMOR_ANNOTATION = 'container.apparmor.security.beta.kubernetes.io/';
const PROFILE_TYPES = new Set(['RuntimeDefault', 'Localhost']);

interface ContainerRef {
  readonly container: Obj;
  readonly path: Segment[];
}

/** Init, regular and ephemeral containers, in upstream's visiting order. */
export function containersOf(spec: Obj): ContainerRef[] {
  const refs: ContainerRef[] = [];
  for (const kind of ['initContainers', 'containers', 'ephemeralContainers'] as const) {
    list(spec[kind]).forEach((container, index) => {
      refs.push({ container: obj(container), path: ['spec', kind, index] });
    });
  }
  return refs;
}

/** Every violation of `level` in `pod` (restricted includes baseline); empty when admitted. */
export function checkPodSecurity(pod: unknown, level: PodSecurityLevel = 'restricted'): PodSecurityViolation[] {
  const out: PodSecurityViolation[] = [];
  const restricted = level === 'restricted';
  const add = (check: string, path: Segment[], message: string) => {
    if (restricted && OVERRIDDEN_AT_RESTRICTED[check]) return;
    out.push({ check, path: formatPath(path), message });
  };
  const metadata = obj(obj(pod).metadata);
  const spec = obj(obj(pod).spec);
  const podContext = obj(spec.securityContext);
  const containers = containersOf(spec);
  const windows = obj(spec.os).name === 'windows';
  // KEP-127, policy v1.35: a pod in its own user namespace is exempt from runAsNonRoot, runAsUser and baseline procMount.
  const userNamespace = spec.hostUsers === false;

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
    if (isSet(obj(volume).hostPath)) add('hostPathVolumes', ['spec', 'volumes', index, 'hostPath'], 'hostPath volumes are not allowed');
  });
  // AppArmor: the deprecated annotation (empty, runtime/default or localhost/*) and the field (RuntimeDefault or Localhost).
  for (const [key, value] of Object.entries(obj(metadata.annotations))) {
    const profile = typeof value === 'string' ? value : String(value);
    if (key.startsWith(APPARMOR_ANNOTATION) && profile !== '' && profile !== 'runtime/default' && !profile.startsWith('localhost/')) {
      add('appArmorProfile', ['metadata', 'annotations', key], `AppArmor profile ${profile} must be runtime/default or localhost/*`);
    }
  }
  const appArmorField = (context: Obj, at: Segment[]) => {
    if (!isSet(context.appArmorProfile)) return;
    const type = obj(context.appArmorProfile).type;
    if (!PROFILE_TYPES.has(String(type))) add('appArmorProfile', [...at, 'appArmorProfile', 'type'], `AppArmor profile type ${JSON.stringify(type ?? '')} must be RuntimeDefault or Localhost`);
  };
  appArmorField(podContext, ['spec', 'securityContext']);
  const seLinux = (context: Obj, at: Segment[]) => {
    if (!isSet(context.seLinuxOptions)) return;
    const options = obj(context.seLinuxOptions);
    if (isSet(options.type) && !SELINUX_TYPES.has(String(options.type))) add('seLinuxOptions', [...at, 'seLinuxOptions', 'type'], `SELinux type ${String(options.type)} is not allowed`);
    for (const field of ['user', 'role'] as const) {
      if (isSet(options[field]) && options[field] !== '') add('seLinuxOptions', [...at, 'seLinuxOptions', field], `SELinux ${field} must not be set`);
    }
  };
  seLinux(podContext, ['spec', 'securityContext']);
  for (const { container, path } of containers) {
    const context = obj(container.securityContext);
    const at = [...path, 'securityContext'];
    appArmorField(context, at);
    seLinux(context, at);
    const procMount = context.procMount;
    if (isSet(procMount) && procMount !== 'Default') {
      if (!userNamespace) add('procMount', [...at, 'procMount'], 'procMount must be Default');
      // Restricted keeps /proc masked even inside a user namespace.
      if (restricted) add('procMount_restricted', [...at, 'procMount'], 'procMount must be Default');
    }
  }
  const unconfined = (context: Obj) => obj(context.seccompProfile).type === 'Unconfined';
  if (unconfined(podContext)) add('seccompProfile_baseline', ['spec', 'securityContext', 'seccompProfile', 'type'], 'seccomp must not be Unconfined');
  for (const { container, path } of containers) {
    if (unconfined(obj(container.securityContext))) add('seccompProfile_baseline', [...path, 'securityContext', 'seccompProfile', 'type'], 'seccomp must not be Unconfined');
  }
  list(podContext.sysctls).forEach((sysctl, index) => {
    const name = obj(sysctl).name;
    if (!SAFE_SYSCTLS.has(String(name))) add('sysctls', ['spec', 'securityContext', 'sysctls', index, 'name'], `sysctl ${String(name)} is not in the safe set`);
  });
  if (!restricted) return out;

  // ---- restricted ----
  list(spec.volumes).forEach((volume, index) => {
    // A volume with no source is an emptyDir to the API server's defaulting.
    for (const [source, value] of Object.entries(obj(volume))) {
      if (VOLUME_SOURCES.has(source) && isSet(value) && !RESTRICTED_VOLUME_SOURCES.has(source)) add('restrictedVolumes', ['spec', 'volumes', index, source], `volume type ${source} is not allowed`);
    }
  });
  if (!userNamespace) {
    const podNonRoot = podContext.runAsNonRoot;
    if (podNonRoot === false) add('runAsNonRoot', ['spec', 'securityContext', 'runAsNonRoot'], 'runAsNonRoot must not be false');
    if (podContext.runAsUser === 0) add('runAsUser', ['spec', 'securityContext', 'runAsUser'], 'runAsUser must not be 0');
    for (const { container, path } of containers) {
      const context = obj(container.securityContext);
      const at = [...path, 'securityContext'];
      if (context.runAsNonRoot === false) add('runAsNonRoot', [...at, 'runAsNonRoot'], 'runAsNonRoot must not be false');
      else if (!isSet(context.runAsNonRoot) && podNonRoot !== true) add('runAsNonRoot', [...at, 'runAsNonRoot'], 'runAsNonRoot must be true on the pod or on this container');
      if (context.runAsUser === 0) add('runAsUser', [...at, 'runAsUser'], 'runAsUser must not be 0');
    }
  }
  // Policy v1.25: Windows pods are exempt from these three (the API server refuses the Linux fields on them).
  if (windows) return out;
  const podSeccomp = podContext.seccompProfile;
  const validSeccomp = (profile: unknown) => PROFILE_TYPES.has(String(obj(profile).type));
  if (isSet(podSeccomp) && !validSeccomp(podSeccomp)) {
    add('seccompProfile_restricted', ['spec', 'securityContext', 'seccompProfile', 'type'], 'seccomp must be RuntimeDefault or Localhost');
  }
  const podSeccompOk = isSet(podSeccomp) && validSeccomp(podSeccomp);
  for (const { container, path } of containers) {
    const context = obj(container.securityContext);
    const at = [...path, 'securityContext'];
    if (context.allowPrivilegeEscalation !== false) add('allowPrivilegeEscalation', [...at, 'allowPrivilegeEscalation'], 'allowPrivilegeEscalation must be false');
    const capabilities = obj(context.capabilities);
    if (!list(capabilities.drop).includes('ALL')) add('capabilities_restricted', [...at, 'capabilities', 'drop'], 'capabilities must drop ALL');
    list(capabilities.add).forEach((capability, index) => {
      if (capability !== 'NET_BIND_SERVICE') add('capabilities_restricted', [...at, 'capabilities', 'add', index], `capability ${String(capability)} may not be added; only NET_BIND_SERVICE may`);
    });
    if (isSet(context.seccompProfile) ? !validSeccomp(context.seccompProfile) : !podSeccompOk) {
      add('seccompProfile_restricted', [...at, 'seccompProfile', 'type'], 'seccomp must be RuntimeDefault or Localhost, on the pod or on this container');
    }
  }
  return out;
}

/** Fields the API server refuses on a pod with `os.name: windows` (core/v1 PodSpec `os`). */
const WINDOWS_FORBIDDEN_SPEC = ['hostUsers', 'resources', 'shareProcessNamespace'] as const;
/** Plain booleans in Go (not pointers): only `true` counts as set. */
const WINDOWS_FORBIDDEN_SPEC_TRUE = ['hostPID', 'hostIPC'] as const;
const WINDOWS_FORBIDDEN_POD_CONTEXT = [
  'appArmorProfile',
  'seLinuxOptions',
  'seccompProfile',
  'fsGroup',
  'fsGroupChangePolicy',
  'sysctls',
  'runAsUser',
  'runAsGroup',
  'supplementalGroups',
  'supplementalGroupsPolicy',
] as const;
const WINDOWS_FORBIDDEN_CONTAINER_CONTEXT = [
  'appArmorProfile',
  'seLinuxOptions',
  'seccompProfile',
  'capabilities',
  'readOnlyRootFilesystem',
  'privileged',
  'allowPrivilegeEscalation',
  'procMount',
  'runAsUser',
  'runAsGroup',
] as const;

/**
 * The API server's own validation of `spec.os` (not Pod Security): a Windows pod may not carry
 * the Linux security fields, a Linux pod may not carry `windowsOptions`. This is why Pod Security
 * can exempt Windows pods from three checks: such a pod never carries the fields they look at.
 */
export function checkPodOs(pod: unknown): PodSecurityViolation[] {
  const out: PodSecurityViolation[] = [];
  const spec = obj(obj(pod).spec);
  const os = obj(spec.os).name;
  const podContext = obj(spec.securityContext);
  const add = (path: Segment[], message: string) => out.push({ check: 'podOS', path: formatPath(path), message });
  if (os === 'windows') {
    for (const field of WINDOWS_FORBIDDEN_SPEC) if (isSet(spec[field])) add(['spec', field], `${field} may not be set on a Windows pod`);
    for (const field of WINDOWS_FORBIDDEN_SPEC_TRUE) if (spec[field] === true) add(['spec', field], `${field} may not be true on a Windows pod`);
    for (const field of WINDOWS_FORBIDDEN_POD_CONTEXT) if (isSet(podContext[field])) add(['spec', 'securityContext', field], `securityContext.${field} may not be set on a Windows pod`);
    for (const { container, path } of containersOf(spec)) {
      const context = obj(container.securityContext);
      for (const field of WINDOWS_FORBIDDEN_CONTAINER_CONTEXT) if (isSet(context[field])) add([...path, 'securityContext', field], `securityContext.${field} may not be set on a Windows pod`);
    }
  } else if (os === 'linux') {
    if (isSet(podContext.windowsOptions)) add(['spec', 'securityContext', 'windowsOptions'], 'windowsOptions may not be set on a Linux pod');
    for (const { container, path } of containersOf(spec)) {
      if (isSet(obj(container.securityContext).windowsOptions)) add([...path, 'securityContext', 'windowsOptions'], 'windowsOptions may not be set on a Linux pod');
    }
  }
  return out;
}
