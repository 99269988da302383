/**
 * The engine's full check of one Docker Engine API create body: only the fields the engine (and
 * the gateway) set, each with the hardened value; security options judged by value.
 */
import type { DockerExecution } from '@portcullis/wire';
import type { Segment } from './path.ts';
import type { Allowances } from './schema.ts';
import { isLoaderVariable } from './environment.ts';
import { collector, list, obj, type Add, type CheckContext, type Obj, type Violation } from './violations.ts';

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

/** The highest uid or gid the container runtime accepts. */
const MAX_ID = 2 ** 31 - 1;

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
 * What is wrong with one tmpfs mount's options, if anything. Mount flags are applied in order, so
 * a later `suid` or `dev` undoes an earlier `nosuid`/`nodev`, and tmpfs reads `size=0` as no limit.
 */
function tmpfsProblem(options: string): string | undefined {
  const parts = options.split(',').map((part) => part.trim());
  const last = (...flags: string[]) => parts.filter((part) => flags.includes(part)).at(-1);
  if (last('nosuid', 'suid') !== 'nosuid') return 'needs nosuid (and no later suid)';
  if (last('nodev', 'dev') === 'dev') return 'dev allows device files; leave it out or use nodev';
  const size = parts.filter((part) => part.startsWith('size=')).at(-1);
  if (size === undefined) return 'needs a size=';
  const bytes = /^size=([0-9]+)[kmgtpe%]?$/i.exec(size);
  if (!bytes) return `${size} is not a tmpfs size`;
  if (Number(bytes[1]) === 0) return 'size=0 means no limit at all';
  return undefined;
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
  securityOpt.forEach((option, index) => {
    checkSecurityOpt(option, ['HostConfig', 'SecurityOpt', index], allow, add);
  });
  const mode = typeof host.NetworkMode === 'string' ? host.NetworkMode : 'default';
  if (mode === 'host' || mode.startsWith('container:')) add('no-host-namespaces', 'HostConfig.NetworkMode', `NetworkMode ${mode} shares another namespace`);
  if (typeof host.IpcMode === 'string' && !['private', 'none'].includes(host.IpcMode)) add('no-host-namespaces', 'HostConfig.IpcMode', `IpcMode ${host.IpcMode} shares another namespace`);
  const [uid, gid] = String(create.User ?? '').split(':');
  // Above 2^31-1 the runtime refuses the id, so such a session could never start.
  const id = (value: string | undefined) => value !== undefined && /^\d+$/.test(value) && Number(value) > 0 && Number(value) <= MAX_ID;
  if (!id(uid) || (gid !== undefined && !id(gid))) add('no-root-user', 'User', `User must be a numeric non-zero uid[:gid] up to ${MAX_ID}`);
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
    const problem = tmpfsProblem(String(options));
    if (problem) add('tmpfs-options', ['HostConfig', 'Tmpfs', path], `tmpfs ${path}: ${problem}`);
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
  const pascal = (value: Obj) =>
    Object.fromEntries(
      Object.entries(value)
        .filter(([, item]) => item !== undefined)
        .map(([key, item]) => [key[0]!.toUpperCase() + key.slice(1), item]),
    );
  return { ...pascal(container as Obj), HostConfig: pascal(host as Obj) };
}

/** Create-body path → the rendered execution path lint and explain know (`HostConfig.Memory` → `host.memory`). */
export function executionPath(path: string): string {
  const camel = (segment: string) => segment[0]!.toLowerCase() + segment.slice(1);
  const host = /^HostConfig\.([A-Za-z]+)(.*)$/.exec(path);
  if (host) return `docker.execution.host.${camel(host[1]!)}${host[2]}`;
  const top = /^([A-Za-z]+)(.*)$/.exec(path);
  return top ? `docker.execution.container.${camel(top[1]!)}${top[2]}` : `docker.execution.${path}`;
}
