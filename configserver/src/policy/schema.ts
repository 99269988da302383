import { AuditConfigSchema, DockerExecutionSchema, DockerHostSchema } from '@portcullis/wire';
import { z } from 'zod';
import { modelName, unknownFields, type KubernetesModel } from './kubernetes-schema.ts';
import { isQuantity, parseQuantity, QUANTITY_HINT } from './quantity.ts';
import { DURATION_PATTERN } from '@portcullis/wire';

/**
 * A Kubernetes quantity in any form the API server parses (a YAML number such as `3e10` too),
 * kept as the string Kubernetes would get. Issues carry their lint rule in `params.rule`.
 */
const Quantity = z
  .union([z.string(), z.number()])
  .refine((value) => isQuantity(value), { message: `not a quantity Kubernetes parses: ${QUANTITY_HINT}`, params: { rule: 'quantity-format' } })
  .transform((value) => String(value));
/** A limit of 0 means "no limit" to Kubernetes, so it is never a valid limit. */
const Limit = Quantity.refine((value) => (parseQuantity(value) ?? 0) > 0, { message: 'a limit must be above 0 (0 means no limit at all)', params: { rule: 'limit-zero' } });
const Memory = Quantity;
const Cpu = Quantity;

/** A raw Kubernetes object: any field of its OpenAPI schema, and no other (a misspelt field is an error). */
const kubernetesObject = (model: KubernetesModel) =>
  z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
    for (const unknown of unknownFields(value, model)) {
      ctx.addIssue({
        code: 'custom',
        path: unknown.path,
        message: `${String(unknown.path.at(-1))} is not a field of Kubernetes' ${modelName(unknown.model)} (misspelt?)`,
        params: { rule: 'unknown-field' },
      });
    }
  });

/** An environment variable name. */
export const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment names are letters, digits and _');

/**
 * What the baseline explicitly allows beyond the hardened session, by exact value. Everything
 * else an overlay might set in these places is refused (guardrails.ts).
 */
export const AllowancesSchema = z.strictObject({
  /** Kubernetes `Localhost` seccomp profiles (`localhostProfile`), relative to the kubelet's seccomp root. */
  seccompProfiles: z.array(z.string().min(1)).default([]),
  /** AppArmor profiles loaded on the nodes/host: Kubernetes `Localhost` `localhostProfile`, Docker `apparmor=<name>`. */
  appArmorProfiles: z.array(z.string().min(1)).default([]),
  /** Secrets a `secret` volume (or projected secret source) may mount, by name. Default: none. */
  secrets: z.array(z.string().min(1)).default([]),
  /** Loader and shell variables (LD_*, BASH_ENV, …) that sessions may get anyway, by exact name. */
  environment: z.array(EnvName).default([]),
  /** `priorityClassName` values an overlay may set. */
  priorityClassNames: z.array(z.string().min(1)).default([]),
  /** `nodeName` values an overlay may set. */
  nodeNames: z.array(z.string().min(1)).default([]),
  /** Whole tolerations an overlay may add, compared field by field. */
  tolerations: z.array(z.record(z.string(), z.unknown())).default([]),
  /** Whole `hostAliases` entries an overlay may add. */
  hostAliases: z.array(z.strictObject({ ip: z.string(), hostnames: z.array(z.string()).optional() })).default([]),
});
export type Allowances = z.output<typeof AllowancesSchema>;
export const NO_ALLOWANCES: Allowances = AllowancesSchema.parse({});
/** Durations carry a unit (STYLE.md): "30s", "15m", "8h". */
const Duration = z.string().regex(DURATION_PATTERN, 'a duration with a unit, e.g. "30m"');
/** Kubernetes label keys and values (DNS-style prefix, 63-character name). */
const LabelKey = z.string().regex(/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, 'a Kubernetes label key');
const LabelValue = z.string().regex(/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/, 'a Kubernetes label value');
const Name = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a DNS label: lower-case letters, digits and -');

/**
 * The highest values a profile may raise resources to. Defaults: the baseline's own limits,
 * so a policy that declares no ceilings can only lower resources.
 */
export const CeilingsSchema = z.strictObject({
  cpu: Limit.optional(),
  memory: Limit.optional(),
  pids: z.number().int().positive().optional(),
});

/** Session time limits, sent as `config.security.session` (security.ts) and enforced by the gateway. */
const SessionLimitsSchema = z.strictObject({ idleTimeout: Duration.optional(), maxDuration: Duration.optional() });

/** Cluster-side settings `render manifests` uses; defaults suit a single gateway install. */
export const KubernetesSettingsSchema = z.strictObject({
  namespace: Name.default('portcullis-sessions'),
  gateway: z.strictObject({ namespace: Name.default('portcullis'), serviceAccount: Name.default('portcullis-gateway') }).default({ namespace: 'portcullis', serviceAccount: 'portcullis-gateway' }),
  quota: z.record(z.string(), z.string()).default({ pods: '50', 'limits.cpu': '40', 'limits.memory': '40Gi' }),
  /** Session pods older than this are orphans the reaper deletes (their gateway is gone). */
  maxSessionAge: Duration.default('24h'),
  /** Pods of `persistent` mode: later connections reach the same pod, which keeps the user's files. */
  persistent: z
    .strictObject({
      /**
       * The gateway deletes a persistent pod once no session has been attached to it for this
       * long (never while one is). Default: none, so such a pod is never deleted for idleness:
       * deleting it loses the files persistent mode exists to keep; the namespace quota caps them.
       */
      idleTimeout: Duration.optional(),
    })
    .optional(),
  /** The hardened pod template; a plain Kubernetes Pod (metadata + spec) with one container. */
  pod: z.looseObject({
    metadata: z.looseObject({ labels: z.record(LabelKey, LabelValue).default({}) }).default({ labels: {} }),
    spec: z.looseObject({ containers: z.array(z.looseObject({ name: Name, image: z.string().min(1) })).length(1, 'the session pod has exactly one container') }),
  }),
});

/**
 * What to record (sent to the gateway as `config.audit`). `enabled` and `recordInput` are the
 * short forms; the rest are the wire's AuditConfig keys, each replacing the value below it.
 */
export const AuditOverlaySchema = z.strictObject({
  enabled: z.boolean().optional(),
  recordInput: z.boolean().optional(),
  recording: AuditConfigSchema.shape.recording,
  format: z.enum(['binary', 'none']).optional(),
  asciicast: z.boolean().optional(),
  storage: z.enum(['file', 's3']).optional(),
  intercept: AuditConfigSchema.shape.intercept.unwrap().partial().optional(),
  sftp: AuditConfigSchema.shape.sftp.unwrap().partial().optional(),
});

/**
 * baseline.yaml: the hardened session every user gets before any profile applies. The Docker
 * part is exactly the wire's DockerExecutionSchema, so a baseline that loads is one the
 * gateway can run; unknown keys are errors, never silently dropped.
 */
export const BaselineSchema = z.strictObject({
  /**
   * Which backend sessions run on: `docker` answers the container, `kubernetes` the rendered pod
   * (it then needs the `kubernetes` section). Both are rendered and checked either way.
   */
  backend: z.enum(['docker', 'kubernetes']).default('docker'),
  /** The hardened Docker container: `execution` is exactly the wire's DockerExecutionSchema. */
  docker: z.strictObject({ execution: DockerExecutionSchema }),
  kubernetes: KubernetesSettingsSchema.optional(),
  ceilings: CeilingsSchema.default({}),
  /** What overlays may set beyond the hardened session, by exact value (default: nothing). */
  allow: AllowancesSchema.default(NO_ALLOWANCES),
  /**
   * Each user's session runs under a uid (and gid) of its own, derived from the user name into
   * this range (session-uid.ts), so per-uid kernel limits are per user. Replaces the baseline's
   * uid wherever it names the session user; a profile that sets `docker.user` keeps its own.
   */
  sessionUids: z
    .strictObject({
      min: z.number().int().min(1000),
      max: z
        .number()
        .int()
        .min(1001)
        .max(2 ** 31 - 1),
    })
    .refine(({ min, max }) => min < max, 'min must be below max')
    .optional(),
  /** What every session records unless a profile changes it. */
  audit: AuditOverlaySchema.optional(),
  /** Every session's time limits unless a profile changes them (a profile may also lengthen them). */
  sessionLimits: SessionLimitsSchema.optional(),
});
export type Baseline = z.output<typeof BaselineSchema>;

const Resources = z.strictObject({
  requests: z.strictObject({ cpu: Cpu.optional(), memory: Memory.optional() }).optional(),
  limits: z.strictObject({ cpu: Limit.optional(), memory: Limit.optional(), pids: z.number().int().positive().optional() }).optional(),
});

const FileSchema = z.union([
  z.string(),
  z.strictObject({
    content: z.string().optional(),
    base64: z.base64().optional(),
    mode: z
      .string()
      .regex(/^0?[0-7]{3}$/, 'octal permission bits such as "0644"')
      .optional(),
    sensitive: z.boolean().optional(),
  }),
]);

const Egress = z.strictObject({
  cidr: z.cidrv4().or(z.cidrv6()),
  ports: z.array(z.strictObject({ port: z.number().int().min(1).max(65535), protocol: z.enum(['TCP', 'UDP']).default('TCP') })).optional(),
});

/** What a profile changes. Every field is optional; guardrails decide what may change. */
export const OverlaySchema = z.strictObject({
  image: z.string().min(1).optional(),
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
  resources: Resources.optional(),
  environment: z.record(EnvName, z.string()).optional(),
  files: z.record(z.string().regex(/^\/[^\0]*$/, 'file paths are absolute'), FileSchema).optional(),
  // persistent: each user keeps one container or pod (persistent.ts names it) across connections.
  mode: z.enum(['connection', 'session', 'persistent']).optional(),
  egress: z.array(Egress).optional(),
  labels: z.record(LabelKey, LabelValue).optional(),
  /** Sent as `config.security` (security.ts): the gateway enforces them before a request reaches the container. */
  securityFilters: z
    .strictObject({
      forwarding: z.boolean().optional(),
      subsystems: z.array(z.string()).optional(),
      maxSessions: z.number().int().positive().optional(),
    })
    .optional(),
  sessionLimits: SessionLimitsSchema.optional(),
  audit: AuditOverlaySchema.optional(),
  /** Raw Kubernetes fields: `spec` merges into the pod spec, `container` into the session container. */
  pod: z
    .strictObject({
      metadata: z.strictObject({ labels: z.record(LabelKey, LabelValue).optional(), annotations: z.record(z.string(), z.string()).optional() }).optional(),
      spec: kubernetesObject('V1PodSpec').optional(),
      container: kubernetesObject('V1Container').optional(),
    })
    .optional(),
  /** Raw Docker HostConfig fields (the wire's subset), merged over the baseline's. */
  docker: z
    .strictObject({
      host: DockerHostSchema.partial().optional(),
      user: z
        .string()
        .regex(/^\d+(:\d+)?$/)
        .optional(),
    })
    .optional(),
});
export type Overlay = z.output<typeof OverlaySchema>;

const StringList = z.array(z.string().min(1)).min(1);

/** Every listed criterion must hold; within one list, any entry may match. */
export const MatchSchema = z.strictObject({
  /** Usernames; `*` matches any run of characters (`contractor-*`). */
  users: StringList.optional(),
  /** Any of these groups, from the `groups` metadata entry (comma-separated). */
  groups: StringList.optional(),
  /** Claim name → accepted values, from `claim:<name>` metadata entries. */
  claims: z.record(z.string().min(1), z.union([z.string(), StringList])).optional(),
  /** The client's address must fall in one of these CIDRs. */
  sourceCidrs: z.array(z.cidrv4().or(z.cidrv6())).min(1).optional(),
  /** From the `authMethod` metadata entry the gateway sets (`password`, `publickey`). */
  authMethods: StringList.optional(),
});
export type Match = z.output<typeof MatchSchema>;

export const ProfileSchema = z.strictObject({
  name: Name.optional(),
  description: z.string().optional(),
  /** Merge order: lower first, so a higher priority wins a conflict; ties go by file name. */
  priority: z.number().int().default(0),
  match: MatchSchema.default({}),
  /** A matching deny profile refuses the login; the message is shown to the user. */
  deny: z.strictObject({ message: z.string().min(1).max(200) }).optional(),
  overlay: OverlaySchema.default({}),
});
export type ProfileSpec = z.output<typeof ProfileSchema>;
