import { z } from 'zod';
import { DurationSchema } from './duration.ts';
import { checkLogTarget, LogTargetFields } from '@portcullis/kit';
import { AuditSettingsSchema } from './audit-settings.ts';

/** host:port with a numeric port; port 0 asks the system for a free one. */
const ListenSchema = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'listen is host:port (e.g. "0.0.0.0:2222")');

/** How many calls one webhook gets at once from this process, and how long the rest may wait. */
export const WEBHOOK_QUEUE_DEFAULTS = { maxConcurrent: 8, maxQueued: 1000, queueTimeout: 60_000 } as const;

/** One webhook endpoint reached over mutual TLS. */
const WebhookSchema = z.strictObject({
  url: z.url({ protocol: /^https$/ }).describe('https URL; plain http is refused so credentials never travel in clear'),
  /** One call, from the moment it is sent; the wait for a slot (below) is not counted. */
  timeout: DurationSchema.default(5_000),
  /**
   * Calls in flight at once to this webhook from this process, each on its own kept-alive
   * connection; more wait in a queue. A login burst then reaches the server at a pace it can
   * answer within `timeout` instead of all at once.
   */
  maxConcurrent: z.number().int().positive().max(1024).default(WEBHOOK_QUEUE_DEFAULTS.maxConcurrent),
  /** Calls waiting for a slot at once; more are refused at once (`WEBHOOK_QUEUE_FULL`). */
  maxQueued: z.number().int().nonnegative().default(WEBHOOK_QUEUE_DEFAULTS.maxQueued),
  /** Longest wait for a slot; a login waiting longer is refused (`WEBHOOK_QUEUE_TIMEOUT`). ssh.loginGraceTime bounds the whole login too. */
  queueTimeout: DurationSchema.default(WEBHOOK_QUEUE_DEFAULTS.queueTimeout),
  caFile: z.string().min(1),
  certFile: z.string().min(1),
  keyFile: z.string().min(1),
});
export type WebhookConfig = z.infer<typeof WebhookSchema>;

/**
 * Sensitive metadata, environment and files are not sent again to later webhooks unless this
 * is true (what ContainerSSH documents for `transmitSensitiveMetadata` but does not do).
 */
const TransmitSensitiveSchema = z.boolean().default(false);

/** The auth webhook: `/password`, `/pubkey`, and `/authz` when `authz` is on. */
const AuthWebhookSchema = WebhookSchema.extend({
  /**
   * Ask `POST <url>/authz` after a successful login, as ContainerSSH's `auth.authz` does: it
   * may refuse, rename the user (authenticatedUsername) and add metadata. Off by default, so
   * auth servers without /authz keep working.
   */
  authz: z.boolean().default(false),
  /** Whether /authz gets sensitive entries the login step returned. */
  transmitSensitiveMetadata: TransmitSensitiveSchema,
  /**
   * Offer SSH keyboard-interactive and relay it to `POST <url>/keyboard-interactive` (a
   * Portcullis extension). Off by default: OpenSSH tries it before password, and an auth
   * server without the route (any ContainerSSH one) would refuse every such login.
   */
  keyboardInteractive: z.boolean().default(false),
  /** Steps one keyboard-interactive conversation may take before it is refused. */
  keyboardInteractiveMaxRounds: z.number().int().positive().max(1000).default(100),
});
export type AuthWebhookConfig = z.infer<typeof AuthWebhookSchema>;

const ConfigWebhookSchema = WebhookSchema.extend({
  /** Whether the config webhook gets sensitive entries from auth and authz (ContainerSSH's key). */
  transmitSensitiveMetadata: TransmitSensitiveSchema,
});
export type ConfigWebhookConfig = z.infer<typeof ConfigWebhookSchema>;

/** `start:rate:full` (or one number, a hard limit) parsed to its parts. */
const MaxStartupsSchema = z.union([z.number().int().positive(), z.string().regex(/^\d+:\d+:\d+$/, 'maxStartups is start:rate:full (e.g. "10:30:100") or a number')]).transform((value, ctx) => {
  if (typeof value === 'number') return { start: value, rate: 100, full: value };
  const [start, rate, full] = value.split(':').map(Number) as [number, number, number];
  if (start < 1 || start > full || rate > 100) ctx.addIssue({ code: 'custom', message: 'maxStartups needs 1 <= start <= full and rate <= 100' });
  return { start, rate, full };
});

const NetBlockSizeSchema = z
  .string()
  .regex(/^\d{1,2}:\d{1,3}$/, 'perSourceNetBlockSize is ipv4Bits:ipv6Bits (e.g. "32:64")')
  .transform((value, ctx) => {
    const [ipv4, ipv6] = value.split(':').map(Number) as [number, number];
    if (ipv4 < 1 || ipv4 > 32 || ipv6 < 1 || ipv6 > 128) ctx.addIssue({ code: 'custom', message: 'perSourceNetBlockSize needs 1-32 bits for IPv4 and 1-128 for IPv6' });
    return { ipv4, ipv6 };
  });

const PenaltiesSchema = z.strictObject({
  /** Off: failed and stalled logins cost their source nothing. */
  enabled: z.boolean().default(true),
  /** Earned by a connection that closes after rejected credentials without logging in. */
  authfail: DurationSchema.default(5_000),
  /** Earned by a connection that closes without trying to log in. */
  noauth: DurationSchema.default(1_000),
  /** Earned by a connection still not logged in when the login grace time expires. */
  graceExceeded: DurationSchema.default(10_000),
  /** Below this a source's new connections are slowed; from it on they are refused until the penalty runs out (for failed logins: its passwords and keyboard-interactive only, never its keys). */
  min: DurationSchema.default(15_000),
  /** Longest penalty a source can accumulate. */
  max: DurationSchema.default(600_000),
  /** Longest wait before a penalised (not yet refused) source is served. */
  maxDelay: DurationSchema.default(1_000),
  /** Source blocks remembered at once; when full, the one penalised longest ago is forgotten. */
  maxSources: z.number().int().positive().default(65_536),
  /** CIDRs that never earn a penalty (monitoring probes, a trusted bastion). */
  exempt: z.array(z.cidrv4().or(z.cidrv6())).default([]),
});

/** The gateway's own file holds plumbing only: every per-user decision comes from the webhooks. */
export const GatewayConfigSchema = z.strictObject({
  ssh: z.strictObject({
    listen: ListenSchema.default('0.0.0.0:2222'),
    /** Host keys are created here on first start and reused after. */
    hostKeyDir: z.string().min(1),
    /** Time a client has from TCP accept to a successful login (OpenSSH LoginGraceTime). */
    loginGraceTime: DurationSchema.default(60_000),
    /**
     * Unauthenticated connections at once, as OpenSSH's MaxStartups `start:rate:full`: from
     * `start` on, `rate` percent of new connections are dropped at random, rising to all at
     * `full`, so idle connections cannot hold every slot. A single number is a hard limit.
     */
    maxStartups: MaxStartupsSchema.prefault('10:30:100'),
    /** Unauthenticated connections one source block may hold at once (OpenSSH PerSourceMaxStartups). */
    perSourceMaxStartups: z.number().int().positive().default(10),
    /** Prefix lengths `ipv4:ipv6` a source address is counted under; one host owns a whole IPv6 /64. */
    perSourceNetBlockSize: NetBlockSizeSchema.prefault('32:64'),
    /** Penalties for sources that fail or stall logins (OpenSSH PerSourcePenalties). */
    perSourcePenalties: PenaltiesSchema.prefault({}),
    /** Longest user name (UTF-8 bytes) taken; longer ones are refused before any webhook call or log line. */
    maxUsernameLength: z.number().int().positive().max(4096).default(256),
    /**
     * `delayed`: zlib@openssh.com, which starts only after login (each packet inflates to at
     * most 256 KiB). Plain `zlib` before login is never offered. `none`: no compression.
     */
    compression: z.enum(['delayed', 'none']).default('delayed'),
    /** Session channels open at once on one connection (OpenSSH MaxSessions); a policy may only lower it. */
    maxSessions: z.number().int().positive().default(10),
    /** Logged-in connections per user on this instance; a policy's maxConnectionsPerUser may only lower it. */
    maxConnectionsPerUser: z.number().int().positive().default(20),
    /** Containers and pods one user holds at once on this instance (one per connection, or per session in session mode). */
    maxContainersPerUser: z.number().int().positive().default(20),
    /** Logged-in connections on this instance, all users together. */
    maxConnections: z.number().int().positive().default(1000),
    /** Failed login attempts on one connection before it is closed (OpenSSH MaxAuthTries). */
    maxAuthTries: z.number().int().positive().default(6),
    banner: z.string().max(4096).optional(),
    /**
     * Keepalive probes to a silent client every this long (OpenSSH ClientAliveInterval), so a
     * client that died without closing its TCP connection loses its container within
     * interval x countMax (90 s by default) instead of at the policy's idle timeout.
     */
    clientAliveInterval: DurationSchema.default(30_000),
    /** Unanswered probes before the client is dropped (OpenSSH ClientAliveCountMax). */
    clientAliveCountMax: z.number().int().positive().default(3),
    /**
     * Behind a TCP load balancer: each connection starts with a PROXY protocol (v1 or v2) header
     * naming the client, whose address the gateway then uses. Off unless set; only the listed
     * balancers may connect, as any other peer could claim any address.
     */
    proxyProtocol: z
      .strictObject({
        trustedProxies: z.array(z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6()])).min(1),
        headerTimeout: DurationSchema.default(5_000),
      })
      .optional(),
  }),
  auth: AuthWebhookSchema,
  configserver: ConfigWebhookSchema,
  docker: z
    .strictObject({
      /** `false` where no Docker engine runs (a Kubernetes deployment): no Docker backend, reaper or health check. */
      enabled: z.boolean().default(true),
      /** The engine's Unix socket (the Docker-socket trust boundary is in the README). */
      socketPath: z.string().default('/var/run/docker.sock'),
      /** `tcp://host:port` instead of the socket; needs `tls`, the engine's API is root on its host. */
      host: z
        .string()
        .regex(/^tcp:\/\/[^:/\s]+:\d{1,5}$/, 'docker.host is tcp://host:port')
        .optional(),
      tls: z.strictObject({ caFile: z.string().min(1), certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
      /** How often this instance sweeps for containers nobody owns any more. */
      reapInterval: DurationSchema.default(15_000),
      /** A container left created or stopped this long (a failed start, a dead owner) is removed. */
      reapAfter: DurationSchema.default(30_000),
      /** Engine API requests in flight at once for the whole gateway; more wait in a queue. */
      maxConcurrentRequests: z.number().int().positive().default(32),
      /** Engine API requests waiting at once; more are refused (`BACKEND_API_BUSY`) instead of piling up. */
      maxQueuedRequests: z.number().int().nonnegative().default(1024),
      /**
       * A host directory for FIFOs that carry the stdin and stdout of programs without a terminal
       * (`cat`, `scp`, `sftp`, `rsync`): the engine no longer relays those bytes, which halves the
       * CPU a bulk transfer costs. Each container gets a directory of its own under it, mounted
       * read-only at /run/portcullis/streams. The path must be the same for the gateway and the
       * engine: a gateway in a container mounts it from the host at the same path. Off unless set.
       */
      streamDirectory: z.string().regex(/^\/./, 'docker.streamDirectory is an absolute path').optional(),
    })
    .refine((docker) => docker.host === undefined || docker.tls !== undefined, {
      message: 'a tcp:// Docker host needs tls (caFile, certFile, keyFile): plain TCP would hand the engine to the network',
      path: ['tls'],
    })
    .refine((docker) => docker.host === undefined || docker.streamDirectory === undefined, {
      message: 'docker.streamDirectory needs the engine on this host (socketPath): a tcp:// engine cannot see its FIFOs',
      path: ['streamDirectory'],
    })
    .default({ enabled: true, socketPath: '/var/run/docker.sock', reapInterval: 15_000, reapAfter: 30_000, maxConcurrentRequests: 32, maxQueuedRequests: 1024 }),
  /**
   * The Kubernetes backend's cluster (off unless set). Credentials live here, never in a webhook
   * answer: a kubeconfig file (optionally one of its contexts), or the in-cluster service account
   * (its bearer token file, re-read as it rotates, and CA).
   */
  kubernetes: z
    .strictObject({
      kubeconfig: z.string().min(1).optional(),
      context: z.string().min(1).optional(),
      inCluster: z.boolean().default(false),
      /** In-cluster overrides (defaults: KUBERNETES_SERVICE_HOST/PORT and the service-account mount). */
      server: z.url({ protocol: /^https$/ }).optional(),
      tokenFile: z.string().min(1).optional(),
      caFile: z.string().min(1).optional(),
      /** The only namespace session pods are created in; a config naming another is refused. */
      namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'namespace is a DNS label'),
      /** Creation to Running; a config's `timeouts.podStart` may only shorten it. */
      startTimeout: DurationSchema.default(60_000),
      /** One API request (create, get, delete, exec upgrade); slower means the API is unreachable. */
      requestTimeout: DurationSchema.default(10_000),
      /** How often this instance renews its heartbeat Lease. */
      heartbeatInterval: DurationSchema.default(5_000),
      /** A heartbeat unchanged this long (by the observer's clock) means its instance died. */
      heartbeatTimeout: DurationSchema.default(20_000),
      /** How often this instance sweeps for pods whose owner died (or whose start failed). */
      reapInterval: DurationSchema.default(5_000),
      /** API requests in flight at once for the whole gateway; more wait in a queue. */
      maxConcurrentRequests: z.number().int().positive().default(32),
      /** API requests waiting at once; more are refused (`BACKEND_API_BUSY`) instead of piling up. */
      maxQueuedRequests: z.number().int().nonnegative().default(1024),
    })
    .refine((kubernetes) => kubernetes.inCluster !== (kubernetes.kubeconfig !== undefined), {
      message: 'set exactly one of kubeconfig or inCluster: true',
      path: ['kubeconfig'],
    })
    .refine((kubernetes) => kubernetes.heartbeatTimeout >= 2 * kubernetes.heartbeatInterval, {
      message: 'heartbeatTimeout must be at least twice heartbeatInterval, or a slow renewal looks like a dead gateway',
      path: ['heartbeatTimeout'],
    })
    .optional(),
  /** The gateway's own upstream key, for SSH proxy configs that carry no credential. */
  sshproxy: z.strictObject({ privateKeyFile: z.string().min(1).optional() }).optional(),
  /**
   * Processes that serve SSH connections. `auto`: one per core (at most 16). With more than one,
   * a primary process owns the listener, the pre-auth, per-user and per-source limits (counted
   * once for all workers), metrics (summed) and health; each worker serves the connections it
   * is handed, and one that dies is replaced without touching the others. `1`: a single process.
   */
  workers: z.union([z.literal('auto'), z.number().int().min(1).max(64)]).default(1),
  /** Prometheus `/metrics` on its own plain-HTTP listener (off unless set). */
  metrics: z.strictObject({ listen: ListenSchema }).optional(),
  /** `/healthz` for probes: 503 names the webhook or engine that does not answer (off unless set). */
  health: z.strictObject({ listen: ListenSchema }).optional(),
  /**
   * Started as root (e.g. to reach a root-group Docker socket), the gateway switches to this
   * `uid:gid` before it accepts anything, keeping only the socket's group as an extra group.
   */
  runAs: z
    .string()
    .regex(/^[1-9]\d*:\d+$/, 'runAs is a non-root numeric uid:gid')
    .optional(),
  /** Where recordings go (directory, S3) and the player page; what is recorded comes from the config webhook. */
  audit: AuditSettingsSchema.optional(),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
      ...LogTargetFields,
    })
    .superRefine(checkLogTarget)
    .default({ level: 'info', destination: 'stdout' }),
});
export type GatewayConfig = z.infer<typeof GatewayConfigSchema>;
export type KubernetesSettings = NonNullable<GatewayConfig['kubernetes']>;
