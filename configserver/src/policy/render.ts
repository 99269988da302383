import { ConfigResponseSchema, type ConfigRequest, type ConfigResponse } from '@portcullis/wire';
import { GuardrailViolatedError, PolicyDeniedError, RenderFailedError } from '../errors.ts';
import { ceilingsOf, checkGuardrails, type Violation } from './guardrails.ts';
import type { Policy, Profile } from './load.ts';
import { matchProfile, subjectOf, type Subject } from './match.ts';
import { defaultPod, merge, type Rendered } from './merge.ts';

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
  for (const profile of policy.profiles ?? []) {
    const reasons = matchProfile(profile.spec.match, subject);
    if (reasons) matched.push({ profile, reasons });
  }
  const denier = matched.find(({ profile }) => profile.spec.deny);
  const rendered = merge(
    policy,
    matched.filter(({ profile }) => !profile.spec.deny).map(({ profile }) => profile),
  );
  const violations = checkGuardrails(rendered, policyCeilings(policy));
  return {
    subject,
    matched,
    ...(denier ? { deny: { profile: denier.profile.name, message: denier.profile.spec.deny!.message } } : {}),
    rendered,
    violations,
  };
}

/** The baseline's own pod: its limits are the default ceilings. */
export function basePod(policy: Policy): Record<string, unknown> {
  return (policy.baseline.kubernetes?.pod as Record<string, unknown> | undefined) ?? defaultPod(policy.baseline.docker.execution);
}

export function policyCeilings(policy: Policy) {
  return ceilingsOf(policy.baseline, basePod(policy));
}

/** The ConfigResponse for a resolution: the Docker section now; the pod spec waits for the Kubernetes backend. */
export function toConfigResponse(resolution: Resolution): ConfigResponse {
  const { rendered } = resolution;
  const environment = Object.fromEntries(Object.entries(rendered.environment).map(([name, value]) => [name, { value, sensitive: false }]));
  const candidate = {
    config: { backend: 'docker', docker: { execution: rendered.docker.execution } },
    ...(Object.keys(environment).length > 0 ? { environment } : {}),
    ...(Object.keys(rendered.files).length > 0 ? { files: rendered.files } : {}),
  };
  const result = ConfigResponseSchema.safeParse(candidate);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new RenderFailedError({
      cause: new Error(`${issue?.path.map(String).join('.') || '(top level)'}: ${issue?.message ?? 'invalid'}`),
    });
  }
  return result.data;
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
