import { frozenAnswer } from '@portcullis/kit';
import { ConfigResponseSchema, type ConfigRequest, type ConfigResponse } from '@portcullis/wire';
import { GuardrailViolatedError, PolicyDeniedError, RenderFailedError } from '../errors.ts';
import { basePod, checkContextFor, checkGuardrails, type Violation } from './guardrails.ts';
import type { Policy, Profile } from './load.ts';
import { candidateProfiles } from './candidates.ts';
import { matchProfile, subjectOf, type Subject } from './match.ts';
import { merge, type Rendered } from './merge.ts';
import { auditSection } from './audit.ts';
import { securitySection } from './security.ts';
import { withPersistentTarget } from './persistent.ts';
import { sessionUid, withSessionUid } from './session-uid.ts';

export interface MatchedProfile {
  readonly profile: Profile;
  /** One line per criterion that held. */
  readonly reasons: string[];
}

/** Everything the engine decided for one user; `explain` prints it, `/config` sends part of it. */
export interface Resolution {
  readonly subject: Subject;
  /** In merge order. */
  readonly matched: readonly MatchedProfile[];
  /** Set when a matching profile denies; deny wins whatever else matched. */
  readonly deny?: { profile: string; message: string };
  readonly rendered: Rendered;
  /** Guardrail violations of the rendered session; non-empty means the request fails closed. */
  readonly violations: readonly Violation[];
}

export type ResolveInput = Pick<ConfigRequest, 'username' | 'remoteAddress'> & Partial<Pick<ConfigRequest, 'authenticatedUsername' | 'metadata'>>;

export function resolve(input: ResolveInput, policy: Policy): Resolution {
  const subject = subjectOf(input);
  const matched: MatchedProfile[] = [];
  for (const profile of candidateProfiles(policy, subject.username)) {
    const reasons = matchProfile(profile.spec.match, subject);
    if (reasons) matched.push({ profile, reasons });
  }
  const denier = matched.find(({ profile }) => profile.spec.deny);
  const { rendered, violations } = renderFor(
    policy,
    matched.filter(({ profile }) => !profile.spec.deny).map(({ profile }) => profile),
  );
  return {
    subject,
    matched,
    ...(denier ? { deny: { profile: denier.profile.name, message: denier.profile.spec.deny!.message } } : {}),
    rendered,
    violations,
  };
}

/** Renders kept per policy set; a reload makes a new Policy object, so nothing stale is served. */
const renders = new WeakMap<Policy, Map<string, { rendered: Rendered; violations: ReturnType<typeof checkGuardrails> }>>();
/** Distinct matched-profile combinations kept per policy set; the oldest goes first. */
const MAX_RENDERS = 4096;

/**
 * The merge and its guardrail check depend only on the policy set and which profiles
 * matched, not on who asked, so each combination is computed once. That is most of a
 * request's cost with many profiles (bench/config-webhook.ts). Results are never mutated.
 */
function renderFor(policy: Policy, profiles: Profile[]): { rendered: Rendered; violations: ReturnType<typeof checkGuardrails> } {
  let cache = renders.get(policy);
  if (!cache) renders.set(policy, (cache = new Map()));
  const key = profiles.map((profile) => profile.source.file).join('\n'); // file paths are unique, names only after lint
  let entry = cache.get(key);
  if (!entry) {
    const rendered = merge(policy, profiles);
    entry = { rendered, violations: checkGuardrails(rendered, checkContextFor(policy)) };
    if (cache.size >= MAX_RENDERS) cache.delete(cache.keys().next().value!);
    cache.set(key, entry);
  }
  return entry;
}

export { basePod };

export function policyCeilings(policy: Policy) {
  return checkContextFor(policy).ceilings;
}

/** The ConfigResponse for a resolution: the Docker section, or the pod when the baseline's backend is kubernetes. */
/** Validated answers per (cached, never mutated) render: the schema check runs once per combination. */
const answers = new WeakMap<Rendered, ConfigResponse>();

export function toConfigResponse(resolution: Resolution): ConfigResponse {
  const answer = sharedConfigResponse(resolution);
  const { rendered } = resolution;
  // The per-user uid applies only where the baseline chose the uid; a profile's pinned uid stays.
  const baseUid = Number(rendered.docker.execution.container.user?.split(':')[0]);
  const chosenBy = rendered.origins.get('docker.execution.container.user')?.from ?? rendered.origins.get('docker.execution')?.from;
  if (!rendered.sessionUids || chosenBy !== 'baseline' || !Number.isInteger(baseUid)) return answer;
  const uid = sessionUid(resolution.subject.username, rendered.sessionUids);
  // A persistent answer is made per request (never shared), so only shared answers keep variants.
  if (!Object.isFrozen(answer)) return withSessionUid(answer, baseUid, uid);
  let variants = uidVariants.get(answer);
  if (!variants) uidVariants.set(answer, (variants = new Map()));
  let variant = variants.get(uid);
  if (!variant) {
    variant = frozenAnswer(withSessionUid(answer, baseUid, uid));
    if (variants.size >= MAX_UID_VARIANTS) variants.delete(variants.keys().next().value!);
    variants.set(uid, variant);
  }
  return variant;
}

/**
 * Each shared answer's per-user variants by session uid: the variant depends only on the answer
 * and the uid, so a user who logs in again gets the same frozen object, whose JSON the webhook
 * app keeps (frozenAnswer). Bounded per answer; the oldest goes first.
 */
const uidVariants = new WeakMap<ConfigResponse, Map<number, ConfigResponse>>();
const MAX_UID_VARIANTS = 4096;

function sharedConfigResponse(resolution: Resolution): ConfigResponse {
  const { rendered } = resolution;
  // A persistent answer names the user's own container or pod, so it is never shared.
  const persistent = rendered.docker.execution.mode === 'persistent';
  const known = persistent ? undefined : answers.get(rendered);
  if (known) return known;
  const environment = Object.fromEntries(Object.entries(rendered.environment).map(([name, value]) => [name, { value, sensitive: false }]));
  const shared = {
    config: {
      ...(rendered.backend === 'kubernetes' ? kubernetesConfig(rendered) : { backend: 'docker', docker: { execution: rendered.docker.execution } }),
      ...auditSection(rendered.session.audit),
      ...securitySection(rendered.session.securityFilters, rendered.session.sessionLimits),
    },
    ...(Object.keys(environment).length > 0 ? { environment } : {}),
    ...(Object.keys(rendered.files).length > 0 ? { files: rendered.files } : {}),
  };
  const candidate = persistent ? withPersistentTarget(shared, resolution.subject.username) : shared;
  const result = ConfigResponseSchema.safeParse(candidate);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new RenderFailedError({
      cause: new Error(`${issue?.path.map(String).join('.') || '(top level)'}: ${issue?.message ?? 'invalid'}`),
    });
  }
  if (persistent) return result.data;
  // Shared by every request with this render: frozen, so its JSON is checked and built once.
  const sharedAnswer = frozenAnswer(result.data);
  answers.set(rendered, sharedAnswer);
  return sharedAnswer;
}

/**
 * ContainerSSH's `kubernetes` section: the rendered hardened pod as it is (metadata and spec, in
 * the policy's session namespace) and how sessions reach it. Mode, shell and subsystems are the
 * same settings the Docker answer carries, so a profile's `mode` applies to both backends.
 */
function kubernetesConfig(rendered: Rendered): Record<string, unknown> {
  const { execution } = rendered.docker;
  const pod = rendered.pod as { metadata?: Record<string, unknown>; spec?: unknown };
  return {
    backend: 'kubernetes',
    kubernetes: {
      pod: {
        metadata: { ...pod.metadata, namespace: rendered.namespace },
        spec: pod.spec,
        mode: execution.mode,
        shellCommand: execution.shellCommand,
        subsystems: execution.subsystems,
        // Used by the gateway only in persistent mode; sent always, so a persistent answer never lacks it.
        ...(rendered.persistentIdleTimeout ? { persistentIdleTimeout: rendered.persistentIdleTimeout } : {}),
      },
    },
  };
}

/**
 * Turns a config request into the answer for the gateway: the baseline with every matching
 * profile's overlay, checked against the guardrails and the wire schema before it leaves.
 * Throws CONFIG_POLICY_DENIED (a deny rule matched), CONFIG_GUARDRAIL_VIOLATED (fail closed:
 * the set should not have loaded) or CONFIG_RENDER_FAILED (the wire schema refused the answer).
 */
export function renderConfig(request: ConfigRequest, policy: Policy): ConfigResponse {
  return answerFor(resolve(request, policy));
}

export function answerFor(resolution: Resolution): ConfigResponse {
  if (resolution.deny) throw new PolicyDeniedError(resolution.deny.message);
  // The wire schema first: an answer the gateway cannot even parse is a render failure.
  const answer = toConfigResponse(resolution);
  if (resolution.violations.length > 0) {
    throw new GuardrailViolatedError({ cause: new Error(resolution.violations.map((v) => `${v.rule} at ${v.path}: ${v.message}`).join('; ')) });
  }
  return answer;
}
