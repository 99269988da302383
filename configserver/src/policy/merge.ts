import type { DockerExecution } from '@portcullis/wire';
import type { Policy, Profile } from './load.ts';
import { formatPath, type Segment } from './path.ts';
import { cpuMillis, memoryBytes } from './quantity.ts';
import { positionOf, type Position, type SourceFile } from './source.ts';
import type { Overlay } from './schema.ts';
import { MANAGED_BY_LABEL, SESSION_LABEL } from './labels.ts';

/** Where one rendered field came from: a baseline or profile file position, or a built-in default. */
export interface Origin extends Position {
  /** `baseline`, `default` (a built-in value), or the profile's name. */
  readonly from: string;
}

export interface SessionSettings {
  egress: { cidr: string; ports?: { port: number; protocol: 'TCP' | 'UDP' }[]; profile: string }[];
  securityFilters: Record<string, unknown>;
  sessionLimits: Record<string, unknown>;
  audit: Record<string, unknown>;
}

/** The engine's product for one user: both backends' specs, the maps, and every field's origin. */
export interface Rendered {
  /** The backend the answer names (baseline `backend`). */
  backend: 'docker' | 'kubernetes';
  /** Where session pods run (baseline `kubernetes.namespace`). */
  namespace: string;
  docker: { execution: DockerExecution };
  pod: Record<string, unknown>;
  environment: Record<string, string>;
  files: Record<string, { value: string; sensitive: boolean; mode?: string }>;
  session: SessionSettings;
  /** Baseline `kubernetes.persistent.idleTimeout`, sent as the pod's `persistentIdleTimeout`. */
  persistentIdleTimeout?: string;
  /** Baseline `sessionUids`: each user's session runs under a uid derived from the user name. */
  sessionUids?: { min: number; max: number };
  /** Rendered field path (`pod.spec.containers[0].image`) → origin. */
  origins: Map<string, Origin>;
}

type Obj = Record<string, unknown>;
const isObj = (value: unknown): value is Obj => value !== null && typeof value === 'object' && !Array.isArray(value);

/** The session container's name in the built-in pod template. */
export const SESSION_CONTAINER = 'shell';

/** Without a `kubernetes.pod` in baseline.yaml: the hardened pod, derived from the Docker baseline. */
export function defaultPod(execution: DockerExecution): Obj {
  const [uid = 1000, gid = uid] = (execution.container.user ?? '1000:1000').split(':').map(Number);
  const memory = execution.host.memory ?? 512 * 2 ** 20;
  const cpu = Math.round((execution.host.nanoCpus ?? 1e9) / 1e6);
  return {
    metadata: { labels: { [MANAGED_BY_LABEL]: 'portcullis', [SESSION_LABEL]: 'true' } },
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      hostNetwork: false,
      hostPID: false,
      hostIPC: false,
      restartPolicy: 'Never',
      securityContext: { runAsNonRoot: true, runAsUser: uid, runAsGroup: gid, fsGroup: gid, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: SESSION_CONTAINER,
          image: execution.container.image,
          imagePullPolicy: execution.imagePullPolicy,
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } },
          resources: { requests: { cpu: `${Math.ceil(cpu / 4)}m`, memory: `${Math.ceil(memory / 2 ** 20 / 2)}Mi` }, limits: { cpu: `${cpu}m`, memory: `${Math.ceil(memory / 2 ** 20)}Mi` } },
          volumeMounts: [
            { name: 'tmp', mountPath: '/tmp' },
            { name: 'home', mountPath: '/home/user' },
          ],
        },
      ],
      volumes: [
        { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
        { name: 'home', emptyDir: { sizeLimit: '64Mi' } },
      ],
    },
  };
}

class Builder {
  readonly origins = new Map<string, Origin>();
  constructor(readonly root: Obj) {}

  /** Drops the origins of `path` and everything below it (the value there is being replaced). */
  private forget(path: string) {
    for (const key of [...this.origins.keys()]) {
      if (key === path || key.startsWith(`${path}.`) || key.startsWith(`${path}[`)) this.origins.delete(key);
    }
  }

  private record(segments: Segment[], value: unknown, origin: (relative: Segment[]) => Origin, relative: Segment[]) {
    this.origins.set(formatPath(segments), origin(relative));
    if (Array.isArray(value))
      value.forEach((item, index) => {
        this.record([...segments, index], item, origin, [...relative, index]);
      });
    else if (isObj(value)) for (const [key, item] of Object.entries(value)) this.record([...segments, key], item, origin, [...relative, key]);
  }

  /**
   * Writes `value` at `segments`: objects merge key by key; arrays of named objects merge by
   * `name` (as Kubernetes' strategic merge does for containers, volumes and mounts); anything
   * else replaces. `origin` maps a path relative to `value` to its source position.
   */
  set(segments: Segment[], value: unknown, origin: (relative: Segment[]) => Origin, relative: Segment[] = []): void {
    const parent = this.ensureParent(segments);
    const key = segments[segments.length - 1]!;
    const current = (parent as Record<Segment, unknown>)[key];
    if (isObj(value) && isObj(current)) {
      this.origins.set(formatPath(segments), this.origins.get(formatPath(segments)) ?? origin(relative));
      for (const [child, item] of Object.entries(value)) this.set([...segments, child], item, origin, [...relative, child]);
      return;
    }
    if (
      Array.isArray(value) &&
      Array.isArray(current) &&
      value.every((item) => isObj(item) && typeof item.name === 'string') &&
      current.every((item) => isObj(item) && typeof item.name === 'string')
    ) {
      value.forEach((item, index) => {
        const existing = (current as Obj[]).findIndex((entry) => entry.name === (item as Obj).name);
        const at = existing >= 0 ? existing : current.length;
        if (existing < 0) current.push({});
        this.set([...segments, at], item, origin, [...relative, index]);
      });
      return;
    }
    const path = formatPath(segments);
    this.forget(path);
    (parent as Record<Segment, unknown>)[key] = structuredClone(value);
    this.record(segments, value, origin, relative);
  }

  private ensureParent(segments: Segment[]): Obj | unknown[] {
    let node: Obj | unknown[] = this.root;
    for (let index = 0; index < segments.length - 1; index++) {
      const key = segments[index]!;
      let next = (node as Record<Segment, unknown>)[key];
      if (!isObj(next) && !Array.isArray(next)) {
        next = typeof segments[index + 1] === 'number' ? [] : {};
        (node as Record<Segment, unknown>)[key] = next;
      }
      node = next as Obj | unknown[];
    }
    return node;
  }
}

function originIn(source: SourceFile | undefined, from: string, base: Segment[]): (relative: Segment[]) => Origin {
  return (relative) => (source ? { ...positionOf(source, [...base, ...relative]), from } : { file: '(built-in)', line: 0, column: 0, from: 'default' });
}

const CONTAINER: Segment[] = ['pod', 'spec', 'containers', 0];

function applyOverlay(builder: Builder, profile: Profile, session: SessionSettings): void {
  const overlay: Overlay = profile.spec.overlay;
  const from = (...base: Segment[]) => originIn(profile.source, profile.name, ['overlay', ...base]);
  const set = (target: Segment[], value: unknown, ...base: Segment[]) => builder.set(target, value, from(...base));
  if (overlay.image !== undefined) {
    set(['docker', 'execution', 'container', 'image'], overlay.image, 'image');
    set([...CONTAINER, 'image'], overlay.image, 'image');
  }
  if (overlay.imagePullPolicy !== undefined) {
    set(['docker', 'execution', 'imagePullPolicy'], overlay.imagePullPolicy, 'imagePullPolicy');
    set([...CONTAINER, 'imagePullPolicy'], overlay.imagePullPolicy, 'imagePullPolicy');
  }
  const limits = overlay.resources?.limits;
  if (limits?.memory !== undefined) {
    const bytes = memoryBytes(limits.memory)!;
    set([...CONTAINER, 'resources', 'limits', 'memory'], limits.memory, 'resources', 'limits', 'memory');
    set(['docker', 'execution', 'host', 'memory'], bytes, 'resources', 'limits', 'memory');
    // Swap equal to memory: no swap on top of the limit.
    set(['docker', 'execution', 'host', 'memorySwap'], bytes, 'resources', 'limits', 'memory');
  }
  if (limits?.cpu !== undefined) {
    set([...CONTAINER, 'resources', 'limits', 'cpu'], limits.cpu, 'resources', 'limits', 'cpu');
    set(['docker', 'execution', 'host', 'nanoCpus'], cpuMillis(limits.cpu)! * 1e6, 'resources', 'limits', 'cpu');
  }
  if (limits?.pids !== undefined) set(['docker', 'execution', 'host', 'pidsLimit'], limits.pids, 'resources', 'limits', 'pids');
  const requests = overlay.resources?.requests;
  for (const resource of ['cpu', 'memory'] as const) {
    if (requests?.[resource] !== undefined) set([...CONTAINER, 'resources', 'requests', resource], requests[resource], 'resources', 'requests', resource);
  }
  for (const [name, value] of Object.entries(overlay.environment ?? {})) set(['environment', name], value, 'environment', name);
  for (const [path, file] of Object.entries(overlay.files ?? {})) {
    const value =
      typeof file === 'string'
        ? { value: Buffer.from(file).toString('base64'), sensitive: false }
        : {
            value: file.base64 ?? Buffer.from(file.content ?? '').toString('base64'),
            sensitive: file.sensitive ?? false,
            ...(file.mode ? { mode: file.mode } : {}),
          };
    builder.set(['files', path], value, (relative) => from('files', path)(relative.length > 0 && typeof file !== 'string' ? relative : []));
  }
  if (overlay.mode !== undefined) set(['docker', 'execution', 'mode'], overlay.mode, 'mode');
  for (const [label, value] of Object.entries(overlay.labels ?? {})) {
    set(['pod', 'metadata', 'labels', label], value, 'labels', label);
    set(['docker', 'execution', 'container', 'labels', label], value, 'labels', label);
  }
  (overlay.egress ?? []).forEach((rule, index) => {
    session.egress.push({ ...rule, profile: profile.name });
    // The NetworkPolicy `render manifests` writes for this profile selects pods by this label.
    set(['pod', 'metadata', 'labels', `portcullis.io/egress-${profile.name}`], 'true', 'egress', index);
  });
  for (const section of ['securityFilters', 'sessionLimits', 'audit'] as const) {
    for (const [key, value] of Object.entries(overlay[section] ?? {})) set(['session', section, key], value, section, key);
  }
  if (overlay.pod?.metadata) set(['pod', 'metadata'], overlay.pod.metadata, 'pod', 'metadata');
  if (overlay.pod?.spec) set(['pod', 'spec'], overlay.pod.spec, 'pod', 'spec');
  if (overlay.pod?.container) set(CONTAINER, overlay.pod.container, 'pod', 'container');
  if (overlay.docker?.host) set(['docker', 'execution', 'host'], overlay.docker.host, 'docker', 'host');
  if (overlay.docker?.user) set(['docker', 'execution', 'container', 'user'], overlay.docker.user, 'docker', 'user');
}

/** Baseline, then each profile's overlay in the order given. Shares nothing with `policy`. */
export function merge(policy: Policy, profiles: readonly Profile[]): Rendered {
  const root: Obj = { docker: {}, pod: {}, environment: {}, files: {}, session: { securityFilters: {}, sessionLimits: {}, audit: {} } };
  const builder = new Builder(root);
  const baseline = policy.baseline;
  builder.set(['docker', 'execution'], baseline.docker.execution, originIn(policy.baselineSource, 'baseline', ['docker', 'execution']));
  if (baseline.kubernetes?.pod) builder.set(['pod'], baseline.kubernetes.pod, originIn(policy.baselineSource, 'baseline', ['kubernetes', 'pod']));
  else builder.set(['pod'], defaultPod(baseline.docker.execution), originIn(undefined, 'default', []));
  const session = root.session as SessionSettings;
  session.egress = [];
  for (const [key, value] of Object.entries(baseline.audit ?? {})) builder.set(['session', 'audit', key], value, originIn(policy.baselineSource, 'baseline', ['audit', key]));
  for (const [key, value] of Object.entries(baseline.sessionLimits ?? {})) builder.set(['session', 'sessionLimits', key], value, originIn(policy.baselineSource, 'baseline', ['sessionLimits', key]));
  for (const profile of profiles) applyOverlay(builder, profile, session);
  return {
    backend: baseline.backend,
    namespace: baseline.kubernetes?.namespace ?? 'portcullis-sessions',
    ...(baseline.kubernetes?.persistent?.idleTimeout ? { persistentIdleTimeout: baseline.kubernetes.persistent.idleTimeout } : {}),
    ...(baseline.sessionUids ? { sessionUids: baseline.sessionUids } : {}),
    docker: root.docker as Rendered['docker'],
    pod: root.pod as Obj,
    environment: root.environment as Rendered['environment'],
    files: root.files as Rendered['files'],
    session,
    origins: builder.origins,
  };
}

/** The origin of `path`, else of a field below it, else of the nearest field above it. */
export function originOf(origins: ReadonlyMap<string, Origin>, path: string): Origin | undefined {
  const exact = origins.get(path);
  if (exact) return exact;
  for (const [key, origin] of origins) if (key.startsWith(`${path}.`) || key.startsWith(`${path}[`)) return origin;
  let parent = path;
  while (parent.length > 0) {
    parent = parent.replace(/(\.[^.[\]]+|\[[^\]]*\])$/, '');
    const found = origins.get(parent);
    if (found) return found;
    if (!/[.[]/.test(parent)) break;
  }
  return origins.get(parent);
}
