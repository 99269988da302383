/**
 * Lint warnings: profiles that are allowed but are probably not what their author meant, and
 * that widen every session they touch. A warning is printed with file:line and never refuses
 * the set (Diagnostic.severity).
 */
import type { Diagnostic, Policy, Profile } from './load.ts';
import { RULES } from './rules.ts';
import { positionOf } from './source.ts';

/** `0.0.0.0/0`, `::/0`: every address of its family. */
const isEverywhere = (cidr: string) => /\/0$/.test(cidr);

/** True when no request can fail this profile's match: no criterion, or only ones every request meets. */
export function matchesEveryone(profile: Profile): boolean {
  const { users, groups, claims, sourceCidrs, authMethods } = profile.spec.match;
  // groups, claims and auth methods need an input that a request may lack, so they always narrow.
  if (groups || claims || authMethods) return false;
  // `*` globs any run of characters, so `*` (or `**`) is every name.
  if (users && !users.some((pattern) => /^\*+$/.test(pattern))) return false;
  if (sourceCidrs && !sourceCidrs.some(isEverywhere)) return false;
  return true;
}

function warning(profile: Profile, segments: (string | number)[], rule: string, message: string): Diagnostic {
  return { ...positionOf(profile.source, segments), rule, severity: 'warning', message, hint: RULES[rule] ?? 'see policies/README.md' };
}

export function policyWarnings(policy: Policy): Diagnostic[] {
  const found: Diagnostic[] = [];
  for (const profile of policy.profiles ?? []) {
    if (profile.spec.deny) continue;
    if (matchesEveryone(profile)) found.push(warning(profile, ['match'], 'match-everyone', `profile ${profile.name} matches every user; its overlay is part of every session`));
    (profile.spec.overlay.egress ?? []).forEach((rule, index) => {
      if (isEverywhere(rule.cidr)) found.push(warning(profile, ['overlay', 'egress', index, 'cidr'], 'egress-anywhere', `profile ${profile.name} opens egress to ${rule.cidr}, every address`));
    });
    // Egress rules become a NetworkPolicy on Kubernetes; a Docker session on a network reaches whatever that network does.
    const networkMode = profile.spec.overlay.docker?.host?.networkMode;
    if (networkMode !== undefined && networkMode !== 'none')
      found.push(
        warning(
          profile,
          ['overlay', 'docker', 'host', 'networkMode'],
          'egress-anywhere',
          `profile ${profile.name} puts Docker sessions on network ${networkMode}: every address it reaches, no egress rule applies`,
        ),
      );
  }
  return found;
}
