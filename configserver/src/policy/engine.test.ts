import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigResponseSchema } from '@portcullis/wire';
import { REPO_POLICY_DIR } from '../testing/policy.ts';
import { runCli } from '../cli/main.ts';
import { BAD_OVERLAYS_DIR, junit, ruleOfBadOverlay, runFixtures } from './fixtures.ts';
import { lintDir, loadPolicy, renderConfig, resolve } from './index.ts';
import { sessionUid } from './session-uid.ts';
import { parseProfileSource, sortProfiles, type Policy } from './load.ts';
import { renderManifests } from './manifests.ts';
import { checkPodSecurity } from './pod-security.ts';
import { RULES } from './guardrails.ts';

const BAD = join(REPO_POLICY_DIR, 'tests', BAD_OVERLAYS_DIR);
const request = (username: string, metadata: Record<string, string> = {}, remoteAddress = '192.0.2.10:51234') => ({
  username,
  authenticatedUsername: username,
  remoteAddress,
  connectionId: '3f2504e04f8911d39a0c0305e82c3301',
  metadata: Object.fromEntries(Object.entries(metadata).map(([key, value]) => [key, { value, sensitive: false }])),
});

function withProfiles(policy: Policy, ...texts: string[]): Policy {
  const profiles = texts.map((text, index) => parseProfileSource(text, `p${index}.yaml`).profile!);
  return { ...policy, profiles: sortProfiles(profiles) };
}

test('the shipped policy set lints clean and every shipped fixture passes', async () => {
  const { diagnostics } = await lintDir(REPO_POLICY_DIR);
  assert.deepEqual(diagnostics, []);
  const policy = await loadPolicy(REPO_POLICY_DIR);
  const results = await runFixtures(policy, REPO_POLICY_DIR, join(REPO_POLICY_DIR, 'tests'));
  assert.deepEqual(
    results.filter((r) => r.failures.length > 0),
    [],
  );
  assert.match(junit(results), /<testsuites tests="\d+" failures="0"/);
});

test('at least 50 known-bad overlays, each rejected by `policy lint` (exit 1) with file:line:column and the rule its name gives', async () => {
  const files = (await readdir(BAD)).filter((file) => file.endsWith('.yaml'));
  assert.ok(files.length >= 50, `${files.length} bad overlays`);
  for (const file of files) {
    const rule = ruleOfBadOverlay(file);
    assert.ok(rule in RULES || rule === 'schema', `${file}: ${rule} is a known rule`);
    const out: string[] = [];
    assert.equal(await runCli(['lint', '--dir', REPO_POLICY_DIR, join(BAD, file)], { out: (text) => out.push(text), err: () => {} }), 1, `${file} must fail lint`);
    // The line a policy author reads: `<file>:<line>:<column>: <rule>: <message> (fix: <hint>)`, pointing into the overlay.
    const hit = out
      .join('')
      .split('\n')
      .map((line) => /^(.+):(\d+):(\d+): ([a-z-]+): .+ \(fix: .+\)$/.exec(line))
      .find((match) => match?.[1] === join(BAD, file) && match[4] === rule);
    assert.ok(hit, `${file}: expected ${rule}, got:\n${out.join('')}`);
    assert.ok(Number(hit[2]) >= 4 && Number(hit[3]) >= 1, `${file}: points into the overlay (${hit[2]}:${hit[3]})`);
  }
});

test('the rendered baseline pod passes Pod Security restricted and its Docker twin is valid wire', async () => {
  const policy = await loadPolicy(REPO_POLICY_DIR);
  const resolution = resolve(request('nobody'), policy);
  assert.deepEqual(checkPodSecurity(resolution.rendered.pod), []);
  assert.deepEqual(resolution.violations, []);
  const answer = renderConfig(request('nobody'), policy);
  assert.deepEqual(ConfigResponseSchema.parse(answer), answer);
  const uid = sessionUid('nobody', policy.baseline.sessionUids!);
  const { execution } = policy.baseline.docker;
  assert.deepEqual(answer.config.docker?.execution, {
    ...execution,
    container: { ...execution.container, user: `${uid}:${uid}` },
    host: { ...execution.host, tmpfs: { ...execution.host.tmpfs, '/home/user': `rw,nosuid,nodev,size=64m,uid=${uid},gid=${uid},mode=0700` } },
  });
});

test('matching: groups, claims, CIDRs (IPv4 and IPv6), auth method; absent inputs never match', async () => {
  const base = await loadPolicy(REPO_POLICY_DIR);
  const policy = withProfiles(
    base,
    'match: { groups: [ops] }\noverlay: { environment: { A: "1" } }',
    'match: { claims: { dept: [research, lab] } }\noverlay: { environment: { B: "1" } }',
    'match: { sourceCidrs: ["2001:db8::/32"] }\noverlay: { environment: { C: "1" } }',
    'match: { authMethods: [publickey] }\noverlay: { environment: { D: "1" } }',
  );
  const env = (r: ReturnType<typeof request>) => Object.keys(resolve(r, policy).rendered.environment).sort().join('');
  assert.equal(env(request('u', { groups: 'dev, ops' })), 'A');
  assert.equal(env(request('u', { 'claim:dept': 'lab' })), 'B');
  assert.equal(env(request('u', {}, '[2001:db8::5]:22')), 'C');
  assert.equal(env(request('u', { authMethod: 'publickey' })), 'D');
  assert.equal(env(request('u', { authMethod: 'password' }, '192.0.2.1:22')), '');
});

test('merge order: lower priority first, later wins; explain names the winning file and line', async () => {
  const base = await loadPolicy(REPO_POLICY_DIR);
  const policy = withProfiles(
    base,
    'priority: 5\nmatch: { users: [u] }\noverlay:\n  environment: { X: late }\n  resources: { limits: { memory: 1Gi } }',
    'priority: 1\nmatch: { users: [u] }\noverlay:\n  environment: { X: early }',
  );
  const resolution = resolve(request('u'), policy);
  assert.deepEqual(
    resolution.matched.map(({ profile }) => profile.name),
    ['p1', 'p0'],
  );
  assert.equal(resolution.rendered.environment.X, 'late');
  assert.deepEqual(resolution.rendered.origins.get('environment.X'), { file: 'p0.yaml', line: 4, column: 21, from: 'p0' });
  assert.equal(resolution.rendered.docker.execution.host.memory, 2 ** 30);
  assert.equal(resolution.rendered.origins.get('docker.execution.host.memory')?.from, 'p0');
  assert.equal(resolution.rendered.origins.get('pod.spec.automountServiceAccountToken')?.from, 'baseline');
});

test('a request that would break a guardrail fails closed with CONFIG_GUARDRAIL_VIOLATED', async () => {
  const base = await loadPolicy(REPO_POLICY_DIR);
  // Built in memory, so it skipped lint: the request path must still refuse it.
  const policy = withProfiles(base, 'match: { users: [u] }\noverlay:\n  pod: { spec: { hostPID: true } }');
  assert.throws(
    () => renderConfig(request('u'), policy),
    (err: Error & { code?: string; statusCode?: number }) => err.code === 'CONFIG_GUARDRAIL_VIOLATED' && err.statusCode === 500,
  );
  assert.ok(renderConfig(request('someone-else'), policy));
});

test('a deny profile wins over other matches and carries its message', async () => {
  const policy = await loadPolicy(REPO_POLICY_DIR);
  assert.throws(
    () => renderConfig(request('svc-backup', { groups: 'data-science' }), policy),
    (err: Error & { code?: string; statusCode?: number }) => {
      return err.code === 'CONFIG_POLICY_DENIED' && err.statusCode === 403 && /Shared accounts cannot log in/.test(err.message);
    },
  );
});

test('render manifests: valid multi-document YAML with exactly the gateway verbs and the hardening', async () => {
  const policy = await loadPolicy(REPO_POLICY_DIR);
  const out: string[] = [];
  assert.equal(await runCli(['render', 'manifests', '--dir', REPO_POLICY_DIR], { out: (t) => out.push(t), err: () => {} }), 0);
  const docs = parseAllDocuments(out.join(''));
  for (const doc of docs) assert.deepEqual(doc.errors, []);
  const objects = docs.map((doc) => doc.toJS() as { kind: string; apiVersion: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } } & Record<string, unknown>);
  assert.deepEqual(objects, renderManifests(policy));
  for (const object of objects) assert.ok(object.apiVersion && object.kind && object.metadata.name, JSON.stringify(object).slice(0, 80));
  const byName = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name)!;
  const ns = byName('Namespace', 'portcullis-sessions');
  assert.equal(ns.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
  assert.equal(byName('ServiceAccount', 'portcullis-gateway').automountServiceAccountToken, false);
  assert.deepEqual(byName('Role', 'portcullis-gateway').rules, [
    { apiGroups: [''], resources: ['pods'], verbs: ['create', 'delete', 'get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['patch'] },
    { apiGroups: [''], resources: ['pods/exec'], verbs: ['create'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create', 'list', 'update', 'delete'] },
  ]);
  assert.ok(byName('RoleBinding', 'portcullis-gateway'));
  assert.ok(byName('ResourceQuota', 'portcullis-sessions'));
  assert.deepEqual((byName('NetworkPolicy', 'default-deny').spec as Record<string, unknown>).policyTypes, ['Ingress', 'Egress']);
  assert.ok(byName('NetworkPolicy', 'allow-dns'));
  assert.match(JSON.stringify(byName('NetworkPolicy', 'egress-developers')), /10\.20\.0\.0\/16/);
  assert.ok(byName('ClusterPolicy', 'portcullis-session-pods'));
  assert.ok(byName('CronJob', 'portcullis-reaper'));
});

test('CLI: lint prints file:line:column and exits 1; explain shows origins; bad usage exits 2', async () => {
  const out: string[] = [];
  const io = { out: (t: string) => out.push(t), err: () => {} };
  const file = join(BAD, (await readdir(BAD)).find((f) => f.endsWith('no-privileged.yaml'))!);
  assert.equal(await runCli(['lint', '--dir', REPO_POLICY_DIR, file], io), 1);
  assert.match(out.join(''), /bad-overlays\/\d+-no-privileged\.yaml:\d+:\d+: no-privileged: .*\(fix: /);
  out.length = 0;
  assert.equal(await runCli(['explain', '--dir', REPO_POLICY_DIR, '--user', 'alice', '--group', 'data-science'], io), 0);
  assert.match(out.join(''), /docker\.execution\.host\.memory = 2147483648 +← .*data-science\.yaml:\d+:\d+ \(data-science\)/);
  assert.match(out.join(''), /pod\.spec\.automountServiceAccountToken = false +← .*baseline\.yaml:\d+:\d+ \(baseline\)/);
  assert.equal(await runCli(['frobnicate'], io), 2);
});
