import { z } from 'zod';
import { DurationSchema } from './duration.ts';
import { checkLogTarget, LogTargetFields } from '../observability/log-destination.ts';
import { AuditSettingsSchema } from '../audit/audit-settings.ts';

/** host:port with a numeric port; port 0 asks the system for a free one. */
const ListenSchema = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'listen is host:port (e.g. "0.0.0.0:2222")');

/** One webhook endpoint reached over mutual TLS. */
const WebhookSchema = z.strictObject({
  url: z.url({ protocol: /^https$/ }).describe('https URL; plain http is refused so credentials never travel in clear'),
  timeout: DurationSchema.default(5_000),
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

/** The gateway's own file holds plumbing only: every per-user decision comes from the webhooks. */
export const GatewayConfigSchema = z.strictObject({
  ssh: z.strictObject({
    listen: ListenSchema.default('0.0.0.0:2222'),
    /** Host keys are created here on first start and reused after. */
    hostKeyDir: z.string().min(1),
    /** Time a client has from TCP accept to a successful login (OpenSSH LoginGraceTime). */
    loginGraceTime: DurationSchema.default(60_000),
    /** Unauthenticated connections at once; more are dropped before the handshake. */
    maxStartups: z.number().int().positive().default(100),
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
      host: z.string().regex(/^tcp:\/\/[^:/\s]+:\d{1,5}$/, 'docker.host is tcp://host:port').optional(),
      tls: z.strictObject({ caFile: z.string().min(1), certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
      /** How often this instance sweeps for containers nobody owns any more. */
      reapInterval: DurationSchema.default(15_000),
      /** A container left created or stopped this long (a failed start, a dead owner) is removed. */
      reapAfter: DurationSchema.default(30_000),
    })
    .refine((docker) => docker.host === undefined || docker.tls !== undefined, {
      message: 'a tcp:// Docker host needs tls (caFile, certFile, keyFile): plain TCP would hand the engine to the network',
      path: ['tls'],
    })
    .default({ enabled: true, socketPath: '/var/run/docker.sock', reapInterval: 15_000, reapAfter: 30_000 }),
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
  /** Prometheus `/metrics` on its own plain-HTTP listener (off unless set). */
  metrics: z.strictObject({ listen: ListenSchema }).optional(),
  /** `/healthz` for probes: 503 names the webhook or engine that does not answer (off unless set). */
  health: z.strictObject({ listen: ListenSchema }).optional(),
  /**
   * Started as root (e.g. to reach a root-group Docker socket), the gateway switches to this
   * `uid:gid` before it accepts anything, keeping only the socket's group as an extra group.
   */
  runAs: z.string().regex(/^[1-9]\d*:\d+$/, 'runAs is a non-root numeric uid:gid').optional(),
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
