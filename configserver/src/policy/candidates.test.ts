import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REPO_POLICY_DIR } from '../testing/policy.ts';
import { candidateProfiles } from './candidates.ts';
import { loadPolicy, resolve } from './index.ts';
import { parseProfileSource, sortProfiles, type Policy } from './load.ts';
import { matchProfile, subjectOf } from './match.ts';

const profile = (name: string, priority: number, match: string) => `description: ${name}\npriority: ${priority}\nmatch: ${match}\noverlay:\n  environment:\n    PROFILE_${name}: "yes"\n`;

function withProfiles(policy: Policy, texts: string[]): Policy {
  return { ...policy, profiles: sortProfiles(texts.map((text, index) => parseProfileSource(text, `p${index}.yaml`).profile!)) };
}

test('the user index skips no profile that matches and keeps merge order', async () => {
  const base = await loadPolicy(REPO_POLICY_DIR);
  const policy = withProfiles(base, [
    profile('alice_only', 10, '{ users: [alice] }'),
    profile('alice_and_bob', 30, '{ users: [bob, alice] }'),
    profile('a_glob', 20, '{ users: ["a*"] }'),
    profile('admins', 5, '{ groups: [admins] }'),
    profile('everyone', 1, '{}'),
    profile('bob_again', 40, '{ users: [bob] }'),
  ]);
  for (const username of ['alice', 'bob', 'anna', 'carol', 'a*']) {
    for (const groups of ['', 'admins']) {
      const input = {
        username,
        authenticatedUsername: username,
        remoteAddress: '192.0.2.1:22',
        metadata: groups ? { groups: { value: groups, sensitive: false } } : ({} as Record<string, { value: string; sensitive: boolean }>),
      };
      const everyMatch = (policy.profiles ?? []).filter((p) => matchProfile(p.spec.match, subjectOf(input))).map((p) => p.name);
      const resolved = resolve(input, policy).matched.map(({ profile: p }) => p.name);
      assert.deepEqual(resolved, everyMatch, `${username} ${groups}`);
    }
  }
  const forAlice = candidateProfiles(policy, 'alice').map((p) => p.name);
  assert.ok(!forAlice.includes('bob_again'), 'a profile naming only other users is not even tested');
});
