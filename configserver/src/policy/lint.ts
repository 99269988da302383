import { describeWitness, realisableCombinations, TooManyCombinationsError, type Combination } from './combinations.ts';
import { checkContextFor, checkGuardrails, RULES, type CheckContext, type Violation } from './guardrails.ts';
import { describeDiagnostic, formatDiagnostic, PolicyError, readPolicySet, type Diagnostic, type Policy, type Profile } from './load.ts';
import { merge, type Origin, type Rendered } from './merge.ts';
import { RenderFailedError } from '../errors.ts';
import { toConfigResponse } from './render.ts';
import { positionOf } from './source.ts';
import { policyWarnings } from './warnings.ts';

/** Origins of `path` and of everything below it. */
function originsUnder(origins: ReadonlyMap<string, Origin>, path: string): Origin[] {
  const found: Origin[] = [];
  for (const [key, origin] of origins) {
    if (key === path || key.startsWith(`${path}.`) || key.startsWith(`${path}[`)) found.push(origin);
  }
  return found;
}

function parentOf(path: string): string {
  return path.replace(/(\.[^.[\]]+|\[(?:\d+|"(?:[^"\\]|\\.)*")\])$/, '');
}

/** Where a violation should be reported: the profile's own field when it wrote one, else the nearest. */
function locate(rendered: Rendered, violation: Violation, from: string | undefined): Origin | undefined {
  let path = violation.path;
  for (;;) {
    const candidates = originsUnder(rendered.origins, path);
    const own = from ? candidates.find((origin) => origin.from === from) : candidates[0];
    if (own) return own;
    if (candidates.length > 0 && from) return undefined; // set by someone else: not this file's finding
    const parent = parentOf(path);
    if (parent === path || parent === '') return undefined;
    path = parent;
  }
}

function toDiagnostic(violation: Violation, origin: Origin | undefined, fallback: Profile | undefined, baselineFile: string): Diagnostic {
  // Nothing of this file's own at the path (e.g. a pod-level field broke a container check): point at its overlay.
  const where = origin && origin.line > 0 ? origin : fallback ? positionOf(fallback.source, ['overlay']) : { file: baselineFile, line: 1, column: 1 };
  return {
    file: where.file,
    line: where.line,
    column: where.column,
    rule: violation.rule,
    message: `${violation.path}: ${violation.message}`,
    hint: RULES[violation.rule] ?? 'see policies/README.md',
  };
}

/** A wire path (`config.kubernetes.pod.spec.containers.0.name`) as the rendered path lint locates. */
function renderedPath(wire: string): string {
  return wire
    .replace(/^config\.kubernetes\.pod\.(metadata|spec)\b/, 'pod.$1')
    .replace(/^config\.docker\./, 'docker.')
    .replace(/\.(\d+)(?=\.|$)/g, '[$1]');
}

/**
 * The session as the configserver would answer it: a set whose answer the wire schema refuses
 * would pass the guardrails and still fail every login it applies to (CONFIG_RENDER_FAILED).
 */
function sessionViolations(policy: Policy, rendered: Rendered, context: CheckContext): Violation[] {
  const violations = checkGuardrails(rendered, context);
  if (violations.length > 0) return violations;
  try {
    toConfigResponse({ subject: { username: 'lint', groups: [], claims: {} }, matched: [], rendered, violations: [] });
    return [];
  } catch (err) {
    if (!(err instanceof RenderFailedError)) throw err;
    const { cause } = err as Error;
    const reason = cause instanceof Error ? cause.message : '(top level): invalid';
    const at = reason.indexOf(': ');
    const wire = at >= 0 ? reason.slice(0, at) : '(top level)';
    return [
      {
        rule: 'render',
        path: renderedPath(wire),
        message: `the ${policy.baseline.backend} answer breaks the webhook's schema at ${wire}: ${at >= 0 ? reason.slice(at + 2) : reason}`,
        source: 'session',
      },
    ];
  }
}

/**
 * Findings that only a combination of profiles has: every set of two or more profiles one
 * request can match (combinations.ts), merged in order and checked, each finding naming the
 * profiles and a request that gets them. Findings a member already has alone are not repeated.
 */
function combinationDiagnostics(policy: Policy, context: CheckContext, baseKeys: ReadonlySet<string>): Diagnostic[] {
  let combinations;
  try {
    combinations = realisableCombinations(policy);
  } catch (err) {
    if (!(err instanceof TooManyCombinationsError)) throw err;
    // Too many to check one by one: say so (never silently), and check the widest set, all of them merged.
    const where = policy.profiles?.[0]?.source.file ?? policy.baselineFile;
    const everyone = (policy.profiles ?? []).filter((profile) => !profile.spec.deny);
    combinations = [{ profiles: everyone, witness: { username: '*', groups: [], claims: {} } }];
    const warning: Diagnostic = {
      file: where,
      line: 1,
      column: 1,
      severity: 'warning',
      rule: 'combinations',
      message: `${err.message}; lint checked each profile alone and all of them together, not every set a user can match`,
      hint: "narrow the profiles' match criteria or merge profiles",
    };
    return [warning, ...checkCombinations(policy, context, baseKeys, combinations)];
  }
  return checkCombinations(policy, context, baseKeys, combinations);
}

function checkCombinations(policy: Policy, context: CheckContext, baseKeys: ReadonlySet<string>, combinations: readonly Combination[]): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  const alone = new Map<string, Set<string>>();
  const aloneKeys = (profile: Profile) => {
    let keys = alone.get(profile.name);
    if (!keys) {
      keys = new Set(sessionViolations(policy, merge(policy, [profile]), context).map((violation) => `${violation.rule} ${violation.path}`));
      alone.set(profile.name, keys);
    }
    return keys;
  };
  for (const { profiles, witness } of combinations) {
    // A matching deny profile refuses the login: no session is rendered for this request.
    if (profiles.length < 2 || profiles.some((profile) => profile.spec.deny)) continue;
    const rendered = merge(policy, profiles);
    for (const violation of sessionViolations(policy, rendered, context)) {
      const key = `${violation.rule} ${violation.path}`;
      if (baseKeys.has(key) || profiles.some((profile) => aloneKeys(profile).has(key))) continue;
      const origin = locate(rendered, violation, undefined);
      const blamed = (origin && profiles.find((profile) => profile.name === origin.from)) ?? profiles.at(-1)!;
      const diagnostic = toDiagnostic(violation, origin?.from === blamed.name ? origin : undefined, blamed, policy.baselineFile);
      diagnostics.push({
        ...diagnostic,
        message: `profiles ${profiles.map((profile) => profile.name).join(' + ')} together (${describeWitness(witness)}) break ${violation.rule}: ${diagnostic.message}`,
      });
    }
  }
  return diagnostics;
}

/**
 * Guardrail findings for a parsed policy set: the baseline alone, each profile alone on the
 * baseline, and every combination of profiles one request can match (combinationDiagnostics).
 * Each finding points at the field that caused it.
 */
export function lintPolicy(policy: Policy): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  const seen = new Set<string>();
  const push = (diagnostic: Diagnostic) => {
    const key = formatDiagnostic(diagnostic);
    if (!seen.has(key)) {
      seen.add(key);
      diagnostics.push(diagnostic);
    }
  };
  const context = checkContextFor(policy);
  const base = merge(policy, []);
  for (const violation of checkGuardrails(base, context)) push(toDiagnostic(violation, locate(base, violation, undefined), undefined, policy.baselineFile));
  const baseKeys = new Set(checkGuardrails(base, context).map((v) => `${v.rule} ${v.path}`));
  const profiles = (policy.profiles ?? []).filter((profile) => !profile.spec.deny);
  const names = new Map<string, Profile>();
  for (const profile of policy.profiles ?? []) {
    const earlier = names.get(profile.name);
    if (earlier) {
      push({
        file: profile.source.file,
        line: 1,
        column: 1,
        rule: 'duplicate-profile',
        message: `profile name ${profile.name} is also used by ${earlier.source.file}`,
        hint: 'give every profile a unique name',
      });
    }
    names.set(profile.name, profile);
    if (profile.spec.deny && Object.keys(profile.spec.overlay).length > 0) {
      push({
        file: profile.source.file,
        line: 1,
        column: 1,
        rule: 'deny-with-overlay',
        message: 'a deny profile refuses the login; its overlay would never apply',
        hint: 'remove the overlay or the deny',
      });
    }
  }
  const check = (set: readonly Profile[], blame: (origin: Origin) => Profile | undefined) => {
    const rendered = merge(policy, set);
    for (const violation of sessionViolations(policy, rendered, context)) {
      if (baseKeys.has(`${violation.rule} ${violation.path}`)) continue;
      const origin = locate(rendered, violation, set.length === 1 ? set[0]!.name : undefined);
      const profile = origin ? blame(origin) : set[0];
      push(toDiagnostic(violation, origin, profile, policy.baselineFile));
    }
  };
  for (const profile of profiles) check([profile], () => profile);
  for (const diagnostic of combinationDiagnostics(policy, context, baseKeys)) push(diagnostic);
  for (const warning of policyWarnings(policy)) push(warning);
  return diagnostics.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column));
}

export const isError = (diagnostic: Diagnostic) => diagnostic.severity !== 'warning';

/** Reads and lints a policy folder; every finding, nothing thrown for a bad policy. */
export async function lintDir(dir: string, extraProfiles: readonly string[] = []): Promise<{ policy?: Policy; diagnostics: Diagnostic[] }> {
  const read = await readPolicySet(dir, extraProfiles);
  const policy = read.policy ?? read.partial;
  if (!policy) return { diagnostics: read.diagnostics };
  const diagnostics = [...read.diagnostics, ...lintPolicy(policy)];
  // Warnings are reported with the set, never a reason to refuse it.
  return diagnostics.some(isError) || !read.policy ? { diagnostics } : { policy, diagnostics };
}

/**
 * Loads `<policyDir>/baseline.yaml` and `profiles/*.yaml`: a set with any lint finding is
 * refused with PolicyError listing them all (`file:line:column: rule: message`).
 */
export async function loadPolicy(policyDir: string): Promise<Policy> {
  const { policy, diagnostics } = await lintDir(policyDir);
  if (!policy) {
    const errors = diagnostics.filter(isError);
    throw new PolicyError(errors.length === 1 ? describeDiagnostic(errors[0]!) : `${errors.length} policy errors:\n${errors.map(describeDiagnostic).join('\n')}`, errors);
  }
  return policy;
}
