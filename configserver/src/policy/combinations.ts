/**
 * Which sets of profiles one request can match together, each with a request that matches exactly
 * that set, so lint checks the sessions users really get instead of each profile alone and all of
 * them at once.
 *
 * The five match criteria look at five independent parts of a request (name, groups, claims,
 * source address, auth method), and a profile matches when each of its criteria holds. So the sets
 * a request can match are the intersections of one "passing set" per part, and each part has a
 * small list of values that between them reach every passing set that part can produce:
 *
 * - groups: a request may carry any groups, so every union of the per-group sets (closure);
 * - claims: per claim name, absent or one of the values a profile accepts (other values act as absent);
 * - source address: CIDRs are intervals, so the addresses at every CIDR's ends and just outside
 *   them reach every region, plus an address in no CIDR;
 * - auth method: each method named, or another;
 * - user name: every pattern written out, and every pair of patterns combined (`dev-*` with
 *   `*-admin` gives `dev--admin`), plus a name no pattern matches. Globs make this one part
 *   approximate: a name matching three patterns that no pair suggests is not tried.
 *
 * Every set is confirmed by running the real matcher on its witness request, so a set reported
 * is one a real request gets.
 */
import { isIPv4 } from 'node:net';
import { candidateProfiles } from './candidates.ts';
import type { Policy, Profile } from './load.ts';
import { matchProfile, type Subject } from './match.ts';
import type { Match } from './schema.ts';

/** A request, as the matcher sees it, that matches exactly `profiles`. */
export interface Combination {
  /** In merge order. */
  readonly profiles: readonly Profile[];
  readonly witness: Subject;
}

/**
 * More distinct sets of two or more profiles than this is more than lint can merge and check one
 * by one in reasonable time. Sets of one profile or none cost nothing and are not counted.
 */
export const MAX_COMBINATIONS = 4096;

/** How many profiles a bit string names. */
const size = (key: string) => key.split('1').length - 1;
const countShared = (keys: Iterable<string>) => {
  let shared = 0;
  for (const key of keys) if (size(key) >= 2) shared++;
  return shared;
};

export class TooManyCombinationsError extends Error {
  override name = 'TooManyCombinationsError';
}

type Part = 'users' | 'groups' | 'claims' | 'sourceCidrs' | 'authMethods';
type Partial = { [K in keyof Subject]?: Subject[K] };

const NOBODY = 'portcullis-lint-nobody';
const EMPTY: Subject = { username: NOBODY, groups: [], claims: {} };

/** Does `profile`'s criterion on `part` (alone) hold for `subject`? */
function passes(profile: Profile, part: Part, subject: Subject): boolean {
  const criterion = profile.spec.match[part];
  if (criterion === undefined) return true;
  return matchProfile({ [part]: criterion } as Match, subject) !== undefined;
}

/**
 * The distinct passing sets of `part` over `values`, as the indices of the profiles that
 * constrain `part` and pass (profiles without a criterion on `part` always pass and are left
 * out); the first value found keeps its set. `candidates` narrows which profiles can pass.
 */
function distinct(
  profiles: readonly Profile[],
  part: Part,
  values: readonly Partial[],
  candidates?: (subject: Subject) => readonly Profile[],
): { constrained: ReadonlySet<number>; options: Map<string, { passing: ReadonlySet<number>; value: Partial }> } {
  const position = new Map(profiles.map((profile, index) => [profile, index]));
  const constrained = new Set(profiles.flatMap((profile, index) => (profile.spec.match[part] === undefined ? [] : [index])));
  const options = new Map<string, { passing: ReadonlySet<number>; value: Partial }>();
  for (const value of values) {
    const subject = { ...EMPTY, ...value } as Subject;
    const passing = (candidates ? candidates(subject) : profiles)
      .map((profile) => position.get(profile)!)
      .filter((index) => constrained.has(index) && passes(profiles[index]!, part, subject))
      .sort((a, b) => a - b);
    const key = passing.join(',');
    if (!options.has(key)) options.set(key, { passing: new Set(passing), value });
  }
  return { constrained, options };
}

function userValues(profiles: readonly Profile[]): Partial[] {
  const patterns = [...new Set(profiles.flatMap((profile) => profile.spec.match.users ?? []))];
  const globs = patterns.filter((pattern) => pattern.includes('*'));
  const names = new Set<string>([NOBODY]);
  for (const pattern of patterns) {
    names.add(pattern.replaceAll('*', 'x'));
    names.add(pattern.replaceAll('*', ''));
  }
  // A literal name is its own witness; only two globs can match names neither spells out.
  for (const glob of globs) for (const other of globs) if (other !== glob) names.add(glob.replaceAll('*', other.replaceAll('*', '')));
  return [...names].map((username) => ({ username }));
}

function groupValues(profiles: readonly Profile[]): Partial[] {
  const groups = [...new Set(profiles.flatMap((profile) => profile.spec.match.groups ?? []))];
  // Closure under union: each group either joins a known set or makes a new one.
  const signature = (list: readonly string[]) => profiles.map((profile) => (passes(profile, 'groups', { ...EMPTY, groups: list }) ? '1' : '0')).join('');
  const sets = new Map<string, string[]>([[signature([]), []]]);
  for (const group of groups) {
    for (const known of [...sets.values()]) {
      const wider = [...known, group];
      const key = signature(wider);
      if (!sets.has(key)) sets.set(key, wider);
    }
    if (countShared(sets.keys()) > MAX_COMBINATIONS) throw new TooManyCombinationsError(`profiles can combine in more than ${MAX_COMBINATIONS} distinct ways (groups)`);
  }
  return [...sets.values()].map((list) => ({ groups: list }));
}

function claimValues(profiles: readonly Profile[]): Partial[] {
  const accepted = new Map<string, Set<string>>();
  for (const profile of profiles) {
    for (const [name, values] of Object.entries(profile.spec.match.claims ?? {})) {
      const set = accepted.get(name) ?? new Set<string>();
      for (const value of Array.isArray(values) ? values : [values]) set.add(value);
      accepted.set(name, set);
    }
  }
  // Claim by claim; two partial assignments with the same passing set so far stay equivalent.
  let partial = new Map<string, Record<string, string>>([['', {}]]);
  const seen: string[] = [];
  for (const [name, values] of accepted) {
    seen.push(name);
    const next = new Map<string, Record<string, string>>();
    for (const claims of partial.values()) {
      for (const value of [undefined, ...values]) {
        const extended = value === undefined ? claims : { ...claims, [name]: value };
        const key = profiles
          .map((profile) => {
            const own = Object.fromEntries(Object.entries(profile.spec.match.claims ?? {}).filter(([claim]) => seen.includes(claim)));
            return Object.keys(own).length === 0 || matchProfile({ claims: own }, { ...EMPTY, claims: extended }) ? '1' : '0';
          })
          .join('');
        if (!next.has(key)) next.set(key, extended);
      }
    }
    if (countShared(next.keys()) > MAX_COMBINATIONS) throw new TooManyCombinationsError(`profiles can combine in more than ${MAX_COMBINATIONS} distinct ways (claims)`);
    partial = next;
  }
  return [...partial.values()].map((claims) => ({ claims }));
}

/** An IP address as a number, and back. */
function toNumber(address: string): bigint {
  if (isIPv4(address)) return address.split('.').reduce((total, part) => (total << 8n) + BigInt(part), 0n);
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return groups.reduce((total, part) => (total << 16n) + BigInt(`0x${part || '0'}`), 0n);
}

function fromNumber(value: bigint, v4: boolean): string {
  if (v4) return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 255n)).join('.');
  return [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((shift) => ((value >> shift) & 0xffffn).toString(16)).join(':');
}

function addressValues(profiles: readonly Profile[]): Partial[] {
  const values: Partial[] = [{}];
  for (const cidr of new Set(profiles.flatMap((profile) => profile.spec.match.sourceCidrs ?? []))) {
    const [network = '', bits = '0'] = cidr.split('/');
    const v4 = isIPv4(network);
    const width = v4 ? 32n : 128n;
    const size = 1n << (width - BigInt(bits));
    const first = (toNumber(network) / size) * size;
    const last = first + size - 1n;
    const max = (1n << width) - 1n;
    for (const point of [first, last, first - 1n, last + 1n]) if (point >= 0n && point <= max) values.push({ address: fromNumber(point, v4) });
  }
  return values;
}

function authValues(profiles: readonly Profile[]): Partial[] {
  const methods = new Set(profiles.flatMap((profile) => profile.spec.match.authMethods ?? []));
  return [{}, ...[...methods].map((authMethod) => ({ authMethod }))];
}

/**
 * Every distinct set of profiles (deny profiles included) one request can match, with a request
 * that matches exactly that set. Throws TooManyCombinationsError past MAX_COMBINATIONS.
 */
export function realisableCombinations(policy: Policy): Combination[] {
  const profiles = policy.profiles ?? [];
  const parts: [Part, Partial[]][] = [
    ['users', userValues(profiles)],
    ['groups', groupValues(profiles)],
    ['claims', claimValues(profiles)],
    ['sourceCidrs', addressValues(profiles)],
    ['authMethods', authValues(profiles)],
  ];
  // Intersect part by part, keeping one witness per distinct set (sets as sorted profile indices).
  let sets = new Map<string, { members: number[]; witness: Partial }>([[profiles.map((_, index) => index).join(','), { members: profiles.map((_, index) => index), witness: {} }]]);
  for (const [part, values] of parts) {
    // Names: only profiles the engine's own index offers for a name can match it.
    const { constrained, options } = distinct(profiles, part, values, part === 'users' ? (subject) => candidateProfiles(policy, subject.username) : undefined);
    const next = new Map<string, { members: number[]; witness: Partial }>();
    let shared = 0;
    for (const { members, witness } of sets.values()) {
      for (const { passing, value } of options.values()) {
        const both = members.filter((index) => !constrained.has(index) || passing.has(index));
        const key = both.join(',');
        if (next.has(key)) continue;
        next.set(key, { members: both, witness: { ...witness, ...value } });
        if (both.length >= 2 && ++shared > MAX_COMBINATIONS) throw new TooManyCombinationsError(`profiles can combine in more than ${MAX_COMBINATIONS} distinct ways`);
      }
    }
    sets = next;
  }
  const combinations: Combination[] = [];
  const confirmed = new Set<string>();
  for (const { witness: partial } of sets.values()) {
    const witness = { ...EMPTY, ...partial } as Subject;
    // The real matcher decides, as resolve() asks it; the set is what this request gets.
    const matched = candidateProfiles(policy, witness.username).filter((profile) => matchProfile(profile.spec.match, witness) !== undefined);
    const key = matched.map((profile) => profile.name).join('\0');
    if (confirmed.has(key)) continue;
    confirmed.add(key);
    combinations.push({ profiles: matched, witness });
  }
  return combinations;
}

/** "a user "dev-x" in groups dev, ops, claim team=a, from 10.0.0.1, by publickey", for a lint message. */
export function describeWitness(subject: Subject): string {
  const parts = [subject.username === NOBODY ? 'a user whose name no profile names' : `user "${subject.username}"`];
  if (subject.groups.length > 0) parts.push(`in group${subject.groups.length > 1 ? 's' : ''} ${subject.groups.join(', ')}`);
  for (const [claim, value] of Object.entries(subject.claims)) parts.push(`claim ${claim}=${value}`);
  if (subject.address) parts.push(`from ${subject.address}`);
  if (subject.authMethod) parts.push(`by ${subject.authMethod}`);
  return parts.join(', ');
}
