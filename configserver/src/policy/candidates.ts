import type { Policy, Profile } from './load.ts';

/**
 * Which profiles can possibly match a user, so a request tests a handful instead of every
 * profile (a policy set with one profile per user is common; bench/config-webhook.ts).
 * A profile whose `users` are all literal names can only match those names; every other
 * profile (globs, no user criterion) stays a candidate for everyone. Order is merge order.
 */
interface ProfileIndex {
  /** Positions in `policy.profiles` of the literal-user profiles naming each user. */
  readonly byUser: ReadonlyMap<string, readonly number[]>;
  /** Positions of the profiles every user must be tested against. */
  readonly everyone: readonly number[];
}

/** One index per policy set; a reload makes a new Policy object. */
const indexes = new WeakMap<Policy, ProfileIndex>();

function indexOf(policy: Policy): ProfileIndex {
  let index = indexes.get(policy);
  if (index) return index;
  const byUser = new Map<string, number[]>();
  const everyone: number[] = [];
  (policy.profiles ?? []).forEach((profile, position) => {
    const users = profile.spec.match.users;
    if (!users || users.some((pattern) => pattern.includes('*'))) {
      everyone.push(position);
      return;
    }
    for (const user of new Set(users)) {
      const positions = byUser.get(user);
      if (positions) positions.push(position);
      else byUser.set(user, [position]);
    }
  });
  index = { byUser, everyone };
  indexes.set(policy, index);
  return index;
}

export function candidateProfiles(policy: Policy, username: string): Profile[] {
  const profiles = policy.profiles ?? [];
  const { byUser, everyone } = indexOf(policy);
  const named = byUser.get(username) ?? [];
  const positions = named.length === 0 ? everyone : [...named, ...everyone].sort((a, b) => a - b);
  return positions.map((position) => profiles[position]!);
}
