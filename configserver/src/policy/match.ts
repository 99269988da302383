import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { ConfigRequest } from '@portcullis/wire';
import type { Match } from './schema.ts';

/**
 * What a profile can match on, taken from the config request. Conventions (documented in
 * policies/README.md): metadata `groups` is a comma-separated list, `claim:<name>` holds one
 * claim, `authMethod` is set by the gateway. A criterion whose input is absent never matches.
 */
export interface Subject {
  readonly username: string;
  readonly groups: readonly string[];
  readonly claims: Readonly<Record<string, string>>;
  /** The client's IP without port or brackets; undefined when unparseable. */
  readonly address?: string;
  readonly authMethod?: string;
}

export function subjectOf(request: Pick<ConfigRequest, 'username' | 'remoteAddress'> & Partial<Pick<ConfigRequest, 'authenticatedUsername' | 'metadata'>>): Subject {
  const metadata = request.metadata ?? {};
  const groups = (metadata.groups?.value ?? '')
    .split(',')
    .map((group) => group.trim())
    .filter(Boolean);
  const claims: Record<string, string> = {};
  for (const [key, entry] of Object.entries(metadata)) if (key.startsWith('claim:')) claims[key.slice(6)] = entry.value;
  const address = hostOf(request.remoteAddress);
  return {
    username: request.authenticatedUsername ?? request.username,
    groups,
    claims,
    ...(address ? { address } : {}),
    ...(metadata.authMethod ? { authMethod: metadata.authMethod.value } : {}),
  };
}

/** "192.0.2.1:22" → "192.0.2.1"; "[2001:db8::1]:22" → "2001:db8::1". */
export function hostOf(remoteAddress: string): string | undefined {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(remoteAddress);
  const host = bracketed ? bracketed[1]! : remoteAddress.includes(':') && remoteAddress.indexOf(':') === remoteAddress.lastIndexOf(':') ? remoteAddress.split(':')[0]! : remoteAddress;
  return isIPv4(host) || isIPv6(host) ? host : undefined;
}

const globCache = new Map<string, RegExp>();
function glob(pattern: string): RegExp {
  let regexp = globCache.get(pattern);
  if (!regexp) {
    regexp = new RegExp(
      `^${pattern
        .split('*')
        .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    );
    globCache.set(pattern, regexp);
  }
  return regexp;
}

function inCidr(address: string, cidr: string): boolean {
  const [network, bits] = cidr.split('/') as [string, string];
  const type = isIPv4(network) ? 'ipv4' : 'ipv6';
  if ((type === 'ipv4') !== isIPv4(address)) return false;
  const list = new BlockList();
  list.addSubnet(network, Number(bits), type);
  return list.check(address, type);
}

/** Why a profile matched (one line per criterion), or undefined when it does not. */
export function matchProfile(match: Match, subject: Subject): string[] | undefined {
  const reasons: string[] = [];
  if (match.users) {
    const hit = match.users.find((pattern) => glob(pattern).test(subject.username));
    if (!hit) return undefined;
    reasons.push(`user ${subject.username} matches ${hit}`);
  }
  if (match.groups) {
    const hit = match.groups.find((group) => subject.groups.includes(group));
    if (!hit) return undefined;
    reasons.push(`member of group ${hit}`);
  }
  if (match.claims) {
    for (const [claim, accepted] of Object.entries(match.claims)) {
      const value = subject.claims[claim];
      if (value === undefined || !(Array.isArray(accepted) ? accepted : [accepted]).includes(value)) return undefined;
      reasons.push(`claim ${claim} = ${value}`);
    }
  }
  if (match.sourceCidrs) {
    const hit = subject.address && match.sourceCidrs.find((cidr) => inCidr(subject.address!, cidr));
    if (!hit) return undefined;
    reasons.push(`address ${subject.address} in ${hit}`);
  }
  if (match.authMethods) {
    if (!subject.authMethod || !match.authMethods.includes(subject.authMethod)) return undefined;
    reasons.push(`auth method ${subject.authMethod}`);
  }
  if (reasons.length === 0) reasons.push('matches everyone (no criteria)');
  return reasons;
}
