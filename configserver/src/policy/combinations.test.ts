import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { REPO_POLICY_DIR, repoPolicy } from '../testing/policy.ts';
import { describeWitness, realisableCombinations } from './combinations.ts';
import { lintDir, loadPolicy } from './lint.ts';
import { formatDiagnostic, PolicyError, readPolicySet, type Policy, type Profile } from './load.ts';
import { matchProfile, type Subject } from './match.ts';
import { answerFor, resolve } from './render.ts';

/** A copy of the shipped policies/ with only its baseline and these profiles. */
async function policyWith(t: { after: (fn: () => Promise<void>) => void }, profiles: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-combinations-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await cp(join(REPO_POLICY_DIR, 'baseline.yaml'), join(dir, 'baseline.yaml'));
  await cp(join(REPO_POLICY_DIR, 'profiles'), join(dir, 'profiles'), { recursive: true });
  for (const file of await readdir(join(dir, 'profiles'))) await rm(join(dir, 'profiles', file));
  for (const [name, text] of Object.entries(profiles)) await writeFile(join(dir, 'profiles', `${name}.yaml`), text);
  return dir;
}

/** `a` raises requests with limits, `b` lowers limits, `c` lowers requests again: only a + b without c breaks. */
const ONLY_SOME_USERS = {
  a: 'priority: 1\nmatch: { groups: [dev] }\noverlay: { resources: { limits: { memory: 1Gi }, requests: { memory: 1Gi } } }\n',
  b: 'priority: 2\nmatch: { groups: [ops] }\noverlay: { resources: { limits: { memory: 256Mi } } }\n',
  c: 'priority: 3\nmatch: { users: ["carol-*"] }\noverlay: { resources: { requests: { memory: 128Mi } } }\n',
};

test('lint finds a rule that only a combination of profiles breaks, names the profiles and a user who gets them', async (t) => {
  const dir = await policyWith(t, ONLY_SOME_USERS);
  const { diagnostics } = await lintDir(dir);
  const found = diagnostics.filter((diagnostic) => diagnostic.rule === 'requests-within-limits');
  assert.equal(found.length, 1, diagnostics.map(formatDiagnostic).join('\n'));
  const [finding] = found;
  assert.match(
    finding!.message,
    /^profiles a \+ b together \(a user whose name no profile names, in groups dev, ops\) break requests-within-limits: pod\.spec\.containers\[0\]\.resources\.requests\.memory: /,
  );
  // It points at the file and line that set the field, as every lint finding does.
  assert.match(finding!.file, /profiles\/a\.yaml$/);
  assert.equal(finding!.line, 3);
  // The set does not load, so no user ever gets the broken session from this configserver.
  await assert.rejects(loadPolicy(dir), (err: unknown) => err instanceof PolicyError && /profiles a \+ b together/.test(err.message));

  // What lint describes is what the engine does: that user's request breaks the rule and fails closed...
  const policy = await readOnly(dir);
  const broken = resolve({ username: 'dan', remoteAddress: '192.0.2.1:1', metadata: { groups: { value: 'dev,ops', sensitive: false } } }, policy);
  assert.deepEqual(
    broken.matched.map(({ profile }) => profile.name),
    ['a', 'b'],
  );
  assert.ok(broken.violations.some((violation) => violation.rule === 'requests-within-limits'));
  // ...while a user in all three gets a valid session, which is why checking all profiles at once missed it.
  const all = resolve({ username: 'carol-1', remoteAddress: '192.0.2.1:1', metadata: { groups: { value: 'dev,ops', sensitive: false } } }, policy);
  assert.deepEqual(
    all.matched.map(({ profile }) => profile.name),
    ['a', 'b', 'c'],
  );
  assert.deepEqual(all.violations, []);
});

/** The policy set of `dir` without lint (to ask the engine what it would render). */
async function readOnly(dir: string): Promise<Policy> {
  const read = await readPolicySet(dir);
  return (read.policy ?? read.partial)!;
}

test('lint stays quiet when the profiles that break a rule together can never match one request', async (t) => {
  // Same overlays, but b only matches password logins and a only public-key logins: no request gets both.
  const dir = await policyWith(t, {
    a: ONLY_SOME_USERS.a.replace('{ groups: [dev] }', '{ groups: [dev], authMethods: [publickey] }'),
    b: ONLY_SOME_USERS.b.replace('{ groups: [ops] }', '{ groups: [ops], authMethods: [password] }'),
    c: ONLY_SOME_USERS.c,
  });
  assert.deepEqual((await lintDir(dir)).diagnostics.map(formatDiagnostic), []);
});

test('the shipped policies: every realisable combination is found, each confirmed by its own witness request', async () => {
  const policy = await repoPolicy();
  const combinations = realisableCombinations(policy);
  const names = combinations.map(({ profiles }) =>
    profiles
      .map((profile) => profile.name)
      .sort()
      .join('+'),
  );
  assert.equal(new Set(names).size, names.length, 'each set once');
  for (const expected of ['', 'developers', 'data-science', 'data-science+developers', 'contractors', 'contractors+data-science+developers', 'deny-shared-accounts']) {
    assert.ok(names.includes(expected), `combination ${expected || '(none)'} in [${names.join(', ')}]`);
  }
  for (const { profiles, witness } of combinations) {
    const matched = (policy.profiles ?? []).filter((profile) => matchProfile(profile.spec.match, witness));
    assert.deepEqual(matched, profiles, describeWitness(witness));
  }
});

/**
 * Completeness over generated policies: every set of profiles that some generated request
 * matches is among the combinations found (for names, groups, claims, addresses and methods
 * drawn from the same small pools the profiles use).
 */
test('property: any request matches a set of profiles that realisableCombinations lists', () => {
  const groups = ['dev', 'ops', 'sec'];
  const users = ['alice', 'bob-*', '*-admin', 'carol'];
  const cidrs = ['10.0.0.0/8', '10.1.0.0/16', '192.0.2.0/24'];
  const match = fc.record(
    {
      users: fc.subarray(users, { minLength: 1 }),
      groups: fc.subarray(groups, { minLength: 1 }),
      claims: fc.dictionary(fc.constantFrom('team', 'role'), fc.constantFrom('a', 'b'), { minKeys: 1 }),
      sourceCidrs: fc.subarray(cidrs, { minLength: 1 }),
      authMethods: fc.subarray(['password', 'publickey'], { minLength: 1 }),
    },
    { requiredKeys: [] },
  );
  const subject: fc.Arbitrary<Subject> = fc.record({
    username: fc.constantFrom('alice', 'bob-admin', 'bob-1', 'x-admin', 'carol', 'zed'),
    groups: fc.subarray(groups),
    claims: fc.dictionary(fc.constantFrom('team', 'role'), fc.constantFrom('a', 'b', 'c')),
    address: fc.constantFrom('10.1.2.3', '10.2.0.1', '192.0.2.7', '198.51.100.1'),
    authMethod: fc.constantFrom('password', 'publickey'),
  });
  fc.assert(
    fc.property(fc.array(match, { minLength: 1, maxLength: 5 }), fc.array(subject, { minLength: 1, maxLength: 10 }), (matches, subjects) => {
      const profiles = matches.map((spec, index): Profile => ({ name: `p${index}`, spec: { priority: 0, match: spec, overlay: {} }, source: { file: `p${index}.yaml` } as Profile['source'] }));
      const policy = { profiles } as unknown as Policy;
      const found = new Set(realisableCombinations(policy).map(({ profiles: set }) => set.map((profile) => profile.name).join('+')));
      for (const request of subjects) {
        const set = profiles
          .filter((profile) => matchProfile(profile.spec.match, request))
          .map((profile) => profile.name)
          .join('+');
        if (!found.has(set)) return false;
      }
      return true;
    }),
    { seed: 21, numRuns: 300 },
  );
});

test('past MAX_COMBINATIONS lint says so as a warning, and still checks every profile alone and all together', async (t) => {
  // Thirteen group profiles: a user may be in any of 2^13 group sets.
  const profiles = Object.fromEntries(Array.from({ length: 13 }, (_, index) => [`g${index}`, `match: { groups: [g${index}] }\noverlay: { environment: { G${index}: "1" } }\n`]));
  const dir = await policyWith(t, { ...profiles, z: 'priority: 9\nmatch: { groups: [g0] }\noverlay: { resources: { limits: { memory: 64Gi } } }\n' });
  const { diagnostics } = await lintDir(dir);
  const warning = diagnostics.find((diagnostic) => diagnostic.rule === 'combinations');
  assert.equal(warning?.severity, 'warning');
  assert.match(warning!.message, /more than 4096 distinct ways .*not every set a user can match/);
  assert.ok(
    diagnostics.some((diagnostic) => diagnostic.rule === 'resource-ceiling' && diagnostic.severity !== 'warning'),
    'a profile that breaks a rule alone is still an error',
  );
});

test('lint refuses a profile whose answer the webhook schema refuses (every login it applies to would fail CONFIG_RENDER_FAILED)', async (t) => {
  const dir = await policyWith(t, { broken: 'match: { users: [alice] }\noverlay: { pod: { container: { name: "", command: [] } } }\n' });
  const baseline = join(dir, 'baseline.yaml');
  await writeFile(baseline, `backend: kubernetes\n${await readFile(baseline, 'utf8')}`);
  const { diagnostics } = await lintDir(dir);
  const render = diagnostics.filter((diagnostic) => diagnostic.rule === 'render');
  assert.equal(render.length, 1, diagnostics.map(formatDiagnostic).join('\n'));
  assert.match(render[0]!.file, /profiles\/broken\.yaml$/);
  assert.match(render[0]!.message, /the kubernetes answer breaks the webhook's schema at config\.kubernetes\.pod\.spec\.containers\.0\.name/);
  // Without lint, this is what alice would get: a refusal at login.
  const resolution = resolve({ username: 'alice', remoteAddress: '192.0.2.1:1' }, await readOnly(dir));
  assert.throws(
    () => answerFor(resolution),
    (err: Error & { code?: string }) => err.code === 'CONFIG_RENDER_FAILED',
  );
});
