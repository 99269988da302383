import { z } from 'zod';
import { DURATION_PATTERN } from './duration.ts';
import { ConnectionMapsSchema } from './metadata.ts';
import { AuthorizationRequestSchema, ConnectionFieldsSchema } from './auth.ts';
import { KubernetesConfigSchema } from './kubernetes.ts';

/**
 * The config webhook gets the same body as /authz (ContainerSSH configserver.md). A schema
 * object of its own, so the OpenAPI document can name it ConfigRequest.
 */
export const ConfigRequestSchema = AuthorizationRequestSchema.extend({});
export type ConfigRequest = z.infer<typeof ConfigRequestSchema>;

/**
 * Docker container settings, camelCase forms of the Docker Engine API `ContainerConfig`
 * names (ContainerSSH matches these case-insensitively). Objects are strict: a key the
 * gateway cannot honour is an error, never silently ignored.
 */
export const DockerContainerSchema = z.strictObject({
  image: z.string().min(1),
  user: z
    .string()
    .regex(/^\d+(:\d+)?$/, 'user is a numeric uid[:gid]')
    .optional(),
  env: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*=/, 'env entries are NAME=value')).optional(),
  workingDir: z.string().startsWith('/').optional(),
  hostname: z.string().max(63).optional(),
  labels: z.record(z.string(), z.string()).optional(),
});
export type DockerContainer = z.infer<typeof DockerContainerSchema>;

/** Docker `HostConfig` subset; the fields the hardened baseline sets. */
export const DockerHostSchema = z.strictObject({
  readonlyRootfs: z.boolean().optional(),
  capDrop: z.array(z.string()).optional(),
  securityOpt: z.array(z.string()).optional(),
  pidsLimit: z.number().int().positive().optional(),
  memory: z.number().int().positive().optional(),
  memorySwap: z.number().int().optional(),
  nanoCpus: z.number().int().positive().optional(),
  tmpfs: z.record(z.string().startsWith('/'), z.string()).optional(),
  networkMode: z.string().optional(),
  ipcMode: z.enum(['private', 'none']).optional(),
  /** Docker keeps the host's cgroup namespace on cgroup v1 hosts unless asked. */
  cgroupnsMode: z.enum(['private']).optional(),
});
export type DockerHost = z.infer<typeof DockerHostSchema>;

export const DockerExecutionSchema = z
  .strictObject({
    /**
     * `connection`: one container per SSH connection, one exec per session channel.
     * `session`: one container per session channel.
     * `persistent`: exec into the container named by `containerName`, which outlives connections.
     */
    mode: z.enum(['connection', 'session', 'persistent']).default('connection'),
    /** Persistent mode: the container to reach (created when missing and `createMissingContainers`). */
    containerName: z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/, 'containerName is a Docker container name')
      .optional(),
    createMissingContainers: z.boolean().default(false),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
    container: DockerContainerSchema,
    host: DockerHostSchema.default({}),
    /** Program run for a shell request (ContainerSSH `shellCommand`). */
    shellCommand: z.array(z.string().min(1)).min(1).default(['/bin/sh']),
    /** Subsystem name → program in the image (ContainerSSH `subsystems`). */
    subsystems: z.record(z.string().regex(/^[a-z0-9@._-]+$/), z.string().startsWith('/')).default({ sftp: '/usr/lib/openssh/sftp-server' }),
    /**
     * Program the container idles in between sessions (ContainerSSH `idleCommand`). It must end
     * when its stdin closes: the gateway holds stdin open, so a container whose gateway died
     * stops by itself.
     */
    idleCommand: z.array(z.string().min(1)).min(1).default(['/bin/sh', '-c', 'read -r _ || true']),
  })
  .refine((execution) => execution.mode !== 'persistent' || execution.containerName !== undefined, {
    message: 'persistent mode needs containerName',
    path: ['containerName'],
  });
export type DockerExecution = z.infer<typeof DockerExecutionSchema>;

export const DockerConfigSchema = z.strictObject({
  execution: DockerExecutionSchema,
});

/**
 * How a kind of request is treated (ContainerSSH `SecurityExecutionPolicy`): `enable` allows
 * it (minus a deny list), `filter` allows only an allow list, `disable` refuses it. An empty
 * string is ContainerSSH's "not set": the section falls back to `defaultMode`.
 */
export const SecurityModeSchema = z.enum(['', 'enable', 'filter', 'disable']);
export type SecurityMode = z.infer<typeof SecurityModeSchema>;

/** A duration with a unit, as Go prints them (`"30s"`, `"5m"`, `"1h"`, `"250ms"`). */
const WireDurationSchema = z.string().regex(DURATION_PATTERN, 'a duration is a whole number with a unit: ms, s, m or h (e.g. "30s")');

const ListFilterSchema = z.strictObject({
  mode: SecurityModeSchema.optional(),
  allow: z.array(z.string().min(1)).optional(),
  deny: z.array(z.string().min(1)).optional(),
});

/**
 * ContainerSSH's `security` section, enforced by the gateway before a request reaches the
 * backend. Portcullis adds `session` time limits and `maxConnectionsPerUser` (extensions a
 * ContainerSSH gateway would not know).
 */
export const SecurityConfigSchema = z.strictObject({
  /** Mode of every section below that names none. */
  defaultMode: SecurityModeSchema.optional(),
  /** Client `env` requests; names are matched exactly. */
  env: ListFilterSchema.optional(),
  /** `exec` requests; `allow` lists whole command lines. */
  command: z.strictObject({ mode: SecurityModeSchema.optional(), allow: z.array(z.string().min(1)).optional() }).optional(),
  shell: z.strictObject({ mode: SecurityModeSchema.optional() }).optional(),
  subsystem: ListFilterSchema.optional(),
  tty: z.strictObject({ mode: SecurityModeSchema.optional() }).optional(),
  /** Signal names without `SIG` (`INT`, `TERM`). */
  signal: ListFilterSchema.optional(),
  forwarding: z
    .strictObject({
      /** `direct-tcpip` (ssh -L, -D). */
      forwardingMode: SecurityModeSchema.optional(),
      /** `tcpip-forward` (ssh -R). */
      reverseForwardingMode: SecurityModeSchema.optional(),
      /** `direct-streamlocal` (ssh -L to a Unix socket). */
      socketForwardingMode: SecurityModeSchema.optional(),
      /** `streamlocal-forward` (ssh -R from a Unix socket). */
      socketListenMode: SecurityModeSchema.optional(),
      x11ForwardingMode: SecurityModeSchema.optional(),
      /** Portcullis extension: `auth-agent-req` (ssh -A). */
      agentForwardingMode: SecurityModeSchema.optional(),
    })
    .optional(),
  /** Replaces every exec, shell and subsystem request; the client's command goes in SSH_ORIGINAL_COMMAND. */
  forceCommand: z.string().min(1).optional(),
  /** Session channels open at once on one connection; 0 or absent means no limit (ContainerSSH: -1). */
  maxSessions: z.number().int().min(-1).optional(),
  /** Portcullis extension: time limits of every session of the connection. */
  session: z
    .strictObject({
      /** No input from the client for this long ends the connection. */
      idleTimeout: WireDurationSchema.optional(),
      /** The connection ends this long after login, whatever happens. */
      maxDuration: WireDurationSchema.optional(),
      /** How long before either end the user is warned on their terminal. */
      warnBefore: WireDurationSchema.optional(),
    })
    .optional(),
  /** Portcullis extension: connections this user may hold at once on this gateway instance. */
  maxConnectionsPerUser: z.number().int().positive().optional(),
});
export type SecurityConfig = z.infer<typeof SecurityConfigSchema>;

/** The part of ContainerSSH's AppConfig a config webhook may set and the gateway supports. */
/** SHA-256 host key fingerprint as OpenSSH prints it (`ssh-keygen -lf`). */
const FingerprintSchema = z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'fingerprints look like SHA256:<43 base64 characters>');

/**
 * ContainerSSH's `sshproxy` section: the upstream SSH server this connection is relayed to.
 * The upstream host key must match a pinned fingerprint; credentials are secrets and are
 * never logged.
 */
export const SshProxyConfigSchema = z
  .strictObject({
    server: z.string().min(1).max(253),
    port: z.number().int().min(1).max(65535).default(22),
    /** Log in upstream under the user's own SSH username instead of `username`. */
    usernamePassThrough: z.boolean().default(false),
    username: z.string().min(1).max(256).optional(),
    password: z.string().optional(),
    /**
     * The private key itself (OpenSSH or PEM), never a path the webhook cannot see. Without
     * it or a password, the gateway logs in with its own key (gateway setting sshproxy.privateKeyFile).
     */
    privateKey: z.string().startsWith('-----BEGIN ').optional(),
    allowedHostKeyFingerprints: z.array(FingerprintSchema).min(1, 'pin at least one upstream host key fingerprint'),
    /** Connect and handshake deadline, in milliseconds. */
    timeout: z.number().int().positive().default(10_000),
  })
  .refine((proxy) => proxy.usernamePassThrough || proxy.username !== undefined, {
    message: 'set username, or usernamePassThrough: true',
    path: ['username'],
  });

export type SshProxyConfig = z.infer<typeof SshProxyConfigSchema>;

/**
 * ContainerSSH's `audit` section in spirit (`enable`, `format`, `storage`, `intercept`), plus
 * what Portcullis adds: whether a session may run unrecorded, asciicast for terminals, and
 * SFTP file events. Where recordings go (directory, bucket, credentials) is gateway plumbing,
 * never per-user config.
 */
export const AuditConfigSchema = z.strictObject({
  /** ContainerSSH's switch; `recording` says more and wins when both are given. */
  enable: z.boolean().optional(),
  /**
   * `required`: a session whose recording cannot be stored does not start (fail closed).
   * `best-effort`: it starts and the failure is logged and counted. `off`: nothing is recorded.
   */
  recording: z.enum(['required', 'best-effort', 'off']).optional(),
  /** ContainerSSH's binary log (CBOR + gzip); `none` keeps only the other formats. */
  format: z.enum(['binary', 'none']).default('binary'),
  /** An asciicast v2 file per terminal (pty) session channel. */
  asciicast: z.boolean().default(true),
  /** Which gateway-configured store receives the recordings (ContainerSSH's names). */
  storage: z.enum(['file', 's3']).default('file'),
  /** Per-stream switches (ContainerSSH's `intercept`, plus forwarded streams and SFTP). */
  intercept: z
    .strictObject({
      stdin: z.boolean().default(true),
      stdout: z.boolean().default(true),
      stderr: z.boolean().default(true),
      /** Record the password of each attempt. Off unless a policy explicitly asks. */
      passwords: z.boolean().default(false),
      /** Bytes of forwarded TCP streams (the open and close are always recorded). */
      forwarding: z.boolean().default(true),
      /** Per-file SFTP events (operation, path, bytes, SHA-256, result). */
      sftp: z.boolean().default(true),
    })
    .default({ stdin: true, stdout: true, stderr: true, passwords: false, forwarding: true, sftp: true }),
  sftp: z
    .strictObject({
      /** Keep a copy of transferred file content beside the recording. */
      storeContent: z.boolean().default(false),
      /** The most content kept per file; beyond it only the hash and size are recorded. */
      maxFileBytes: z
        .number()
        .int()
        .nonnegative()
        .default(10 * 1024 * 1024),
    })
    .default({ storeContent: false, maxFileBytes: 10 * 1024 * 1024 }),
});
export type AuditConfig = z.infer<typeof AuditConfigSchema>;

export const AppConfigSchema = z
  .strictObject({
    backend: z.enum(['docker', 'sshproxy', 'kubernetes']),
    docker: DockerConfigSchema.optional(),
    sshproxy: SshProxyConfigSchema.optional(),
    kubernetes: KubernetesConfigSchema.optional(),
    audit: AuditConfigSchema.optional(),
    security: SecurityConfigSchema.optional(),
  })
  .refine((config) => config.backend !== 'docker' || config.docker !== undefined, {
    message: 'backend "docker" needs a docker.execution section',
    path: ['docker'],
  })
  .refine((config) => config.backend !== 'sshproxy' || config.sshproxy !== undefined, {
    message: 'backend "sshproxy" needs an sshproxy section',
    path: ['sshproxy'],
  })
  .refine((config) => config.backend !== 'kubernetes' || config.kubernetes !== undefined, {
    message: 'backend "kubernetes" needs a kubernetes.pod section',
    path: ['kubernetes'],
  });
export type AppConfig = z.infer<typeof AppConfigSchema>;

/**
 * `config` of a config webhook answer as ContainerSSH defines it: a partial AppConfig that
 * ContainerSSH merges over its static file. Portcullis has no static backend settings, so the
 * gateway needs `backend` and that backend's section (AppConfigSchema); `config: {}` parses
 * here and is refused there. Unknown sections are invalid.
 */
export const WireAppConfigSchema = z.strictObject({
  backend: z.enum(['docker', 'kubernetes', 'sshproxy']).optional().describe('Which backend runs the session.'),
  docker: DockerConfigSchema.optional(),
  sshproxy: SshProxyConfigSchema.optional(),
  kubernetes: KubernetesConfigSchema.optional().describe('ContainerSSH kubernetes section: the session pod and how sessions reach it.'),
  security: SecurityConfigSchema.optional().describe('ContainerSSH security section: request filters the gateway enforces.'),
  audit: AuditConfigSchema.optional().describe('What is recorded and whether a session may run unrecorded.'),
});
export type WireAppConfig = z.infer<typeof WireAppConfigSchema>;

export const ConfigResponseSchema = ConnectionFieldsSchema.partial()
  .extend({ authenticatedUsername: z.string().max(256).optional() })
  .extend({ config: WireAppConfigSchema })
  .extend(ConnectionMapsSchema.shape);
export type ConfigResponse = z.infer<typeof ConfigResponseSchema>;
