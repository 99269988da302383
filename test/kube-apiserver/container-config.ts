import { hostname } from 'node:os';
import type Docker from 'dockerode';
import { parseQuantity } from './quantity.ts';
import type { Container, Pod } from './pod-spec.ts';

/** Labels on every container this server creates; `INSTANCE_LABEL` names the server instance. */
export const INSTANCE_LABEL = 'io.portcullis.kube-apiserver.instance';
/** The labels dockershim put on pod containers, so `docker ps` reads the same way. */
export const POD_NAME_LABEL = 'io.kubernetes.pod.name';
export const POD_NAMESPACE_LABEL = 'io.kubernetes.pod.namespace';
export const POD_UID_LABEL = 'io.kubernetes.pod.uid';
export const CONTAINER_NAME_LABEL = 'io.kubernetes.container.name';
/** The process that runs the server instance, so a later instance can reap what a killed one left. */
export const OWNER_PID_LABEL = 'io.portcullis.kube-apiserver.pid';
export const OWNER_HOST_LABEL = 'io.portcullis.kube-apiserver.host';

export interface ContainerConfigContext {
  instanceId: string;
  network: string;
  nodeName: string;
  /** The image's own `User` (from `docker image inspect`), used when the pod sets no runAsUser. */
  imageUser: string;
}

/** A kubelet-side refusal before the container is created (`CreateContainerConfigError`). */
export class ContainerConfigError extends Error {}

function fieldRefValue(pod: Pod, path: string, nodeName: string): string {
  const label = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (label) return (label[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[label[2]!] ?? '';
  const values: Record<string, string> = {
    'metadata.name': pod.metadata.name,
    'metadata.namespace': pod.metadata.namespace ?? '',
    'metadata.uid': pod.metadata.uid,
    'spec.nodeName': nodeName,
    'spec.serviceAccountName': String(pod.spec.serviceAccountName ?? 'default'),
    'status.hostIP': '127.0.0.1',
    'status.podIP': '',
  };
  return values[path] ?? '';
}

/** uid part of a Docker `User` ("1000", "1000:1000", "user"); undefined when not numeric. */
function numericUid(user: string): number | undefined {
  const uid = user.split(':')[0] ?? '';
  if (uid === '') return 0;
  return /^\d+$/.test(uid) ? Number(uid) : undefined;
}

/**
 * The effective `User` for Docker, applying container over pod securityContext, and the
 * kubelet's runAsNonRoot verification (kuberuntime_container_linux.go verifyRunAsNonRoot).
 */
function resolveUser(pod: Pod, c: Container, imageUser: string): string | undefined {
  const psc = pod.spec.securityContext ?? {};
  const csc = c.securityContext ?? {};
  const runAsUser = csc.runAsUser ?? psc.runAsUser;
  const runAsGroup = csc.runAsGroup ?? psc.runAsGroup;
  const runAsNonRoot = csc.runAsNonRoot ?? psc.runAsNonRoot;
  if (runAsNonRoot) {
    if (runAsUser !== undefined) {
      if (runAsUser === 0)
        throw new ContainerConfigError(`container's runAsUser breaks non-root policy (pod: "${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})", container: ${c.name})`);
    } else {
      const uid = numericUid(imageUser);
      if (uid === undefined)
        throw new ContainerConfigError(
          `container has runAsNonRoot and image has non-numeric user (${imageUser.split(':')[0]}), cannot verify user is non-root (pod: "${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})", container: ${c.name})`,
        );
      if (uid === 0)
        throw new ContainerConfigError(`container has runAsNonRoot and image will run as root (pod: "${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})", container: ${c.name})`);
    }
  }
  if (runAsUser === undefined && runAsGroup === undefined) return undefined;
  const user = runAsUser !== undefined ? String(runAsUser) : imageUser.split(':')[0] || '0';
  return runAsGroup !== undefined ? `${user}:${runAsGroup}` : user;
}

/** The numeric uid/gid the container runs as, or undefined when the image names a user by name. */
function tmpfsOwner(pod: Pod, c: Container, imageUser: string): { uid: number; gid: number } | undefined {
  const psc = pod.spec.securityContext ?? {};
  const csc = c.securityContext ?? {};
  const [imageUid = '', imageGid = ''] = imageUser.split(':');
  const uid = csc.runAsUser ?? psc.runAsUser ?? (imageUid === '' ? 0 : /^\d+$/.test(imageUid) ? Number(imageUid) : undefined);
  if (uid === undefined) return undefined;
  const gid = psc.fsGroup ?? csc.runAsGroup ?? psc.runAsGroup ?? (/^\d+$/.test(imageGid) ? Number(imageGid) : uid === 0 ? 0 : uid);
  return { uid, gid };
}

function seccompOption(pod: Pod, c: Container): string | undefined {
  const profile = c.securityContext?.seccompProfile ?? pod.spec.securityContext?.seccompProfile;
  // Kubernetes runs containers Unconfined unless a profile is set (kubelet --seccomp-default is off by default).
  if (!profile || profile.type === 'Unconfined') return 'seccomp=unconfined';
  if (profile.type === 'RuntimeDefault') return undefined;
  throw new ContainerConfigError(`seccomp profile type ${JSON.stringify(profile.type)} is not supported by this test API server`);
}

function capability(name: string): string {
  return name.toUpperCase() === 'ALL' || name.toUpperCase().startsWith('CAP_') ? name.toUpperCase() : `CAP_${name.toUpperCase()}`;
}

/** The `docker create` body for one container of a pod. */
export function containerCreateOptions(pod: Pod, c: Container & { name: string; image: string }, ctx: ContainerConfigContext): Docker.ContainerCreateOptions {
  const csc = c.securityContext ?? {};
  const psc = pod.spec.securityContext ?? {};
  const securityOpt: string[] = [];
  if (csc.allowPrivilegeEscalation === false) securityOpt.push('no-new-privileges');
  const seccomp = seccompOption(pod, c);
  if (seccomp) securityOpt.push(seccomp);

  const volumes = new Map((pod.spec.volumes ?? []).map((v) => [v.name, v]));
  const tmpfs: Record<string, string> = {};
  const owner = tmpfsOwner(pod, c, ctx.imageUser);
  for (const mount of c.volumeMounts ?? []) {
    const volume = volumes.get(mount.name);
    if (!volume?.emptyDir) throw new ContainerConfigError(`volume ${JSON.stringify(mount.name)}: only emptyDir volumes are supported by this test API server`);
    // emptyDir (disk or Memory medium) becomes a tmpfs, world-writable as the kubelet makes it.
    // Docker copies the mode of a directory the image already has at that path, so the tmpfs is
    // also owned by the container's user (group fsGroup, as the kubelet's chown does).
    const options = [mount.readOnly ? 'ro' : 'rw', 'exec', 'nosuid', 'nodev', 'mode=777'];
    if (owner) options.push(`uid=${owner.uid}`, `gid=${owner.gid}`);
    const size = parseQuantity(volume.emptyDir.sizeLimit);
    if (size !== undefined && size > 0) options.push(`size=${Math.floor(size)}`);
    tmpfs[mount.mountPath] = options.join(',');
  }

  const env = (c.env ?? []).map((e) => {
    const value = e.valueFrom?.fieldRef ? fieldRefValue(pod, e.valueFrom.fieldRef.fieldPath, ctx.nodeName) : (e.value ?? '');
    return `${e.name}=${value}`;
  });
  const groups = [...(psc.fsGroup !== undefined ? [psc.fsGroup] : []), ...(psc.supplementalGroups ?? [])].map(String);
  const memory = parseQuantity(c.resources?.limits?.memory);
  const cpu = parseQuantity(c.resources?.limits?.cpu);
  const user = resolveUser(pod, c, ctx.imageUser);

  const hostConfig: Docker.HostConfig = {
    NetworkMode: ctx.network,
    ReadonlyRootfs: csc.readOnlyRootFilesystem === true,
    Privileged: csc.privileged === true,
    CapDrop: (csc.capabilities?.drop ?? []).map(capability),
    CapAdd: (csc.capabilities?.add ?? []).map(capability),
    SecurityOpt: securityOpt,
    Tmpfs: tmpfs,
    GroupAdd: groups,
    Init: false,
    AutoRemove: false,
  };
  if (memory !== undefined) hostConfig.Memory = Math.floor(memory);
  if (cpu !== undefined) hostConfig.NanoCpus = Math.round(cpu * 1e9);

  const options: Docker.ContainerCreateOptions = {
    name: `k8s_${c.name}_${pod.metadata.name}_${pod.metadata.namespace}_${pod.metadata.uid.slice(0, 8)}_${ctx.instanceId}`,
    Image: c.image,
    Hostname: pod.metadata.name.slice(0, 63),
    Env: env,
    Tty: c.tty === true,
    OpenStdin: c.stdin === true,
    Labels: {
      [INSTANCE_LABEL]: ctx.instanceId,
      [OWNER_PID_LABEL]: String(process.pid),
      [OWNER_HOST_LABEL]: hostname(),
      [POD_NAME_LABEL]: pod.metadata.name,
      [POD_NAMESPACE_LABEL]: pod.metadata.namespace ?? '',
      [POD_UID_LABEL]: pod.metadata.uid,
      [CONTAINER_NAME_LABEL]: c.name,
    },
    HostConfig: hostConfig,
  };
  // command replaces the image's ENTRYPOINT, args its CMD; Docker drops the image CMD once ENTRYPOINT is set.
  if (c.command) options.Entrypoint = c.command;
  if (c.args) options.Cmd = c.args;
  if (c.workingDir) options.WorkingDir = c.workingDir;
  if (user !== undefined) options.User = user;
  return options;
}
