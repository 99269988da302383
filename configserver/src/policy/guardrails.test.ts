import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_POLICY_DIR, repoPolicy } from '../testing/policy.ts';
import { lintDir } from './lint.ts';
import { formatDiagnostic } from './load.ts';
import { RULES } from './rules.ts';
import { basePod, checkContextFor, checkDockerCreate, checkPod, createBodyOf, type CheckContext } from './guardrails.ts';
import { parseProfileSource, sortProfiles, type Policy } from './load.ts';
import { cpuMillis, memoryBytes, parseQuantity } from './quantity.ts';
import { AllowancesSchema } from './schema.ts';
import { policyWarnings } from './warnings.ts';

test('quantities parse exactly as Kubernetes parses them: every suffix, exponent and decimal form', () => {
  const cases: [string | number, number][] = [
    ['1k', 1e3],
    ['1M', 1e6],
    ['1G', 1e9],
    ['1T', 1e12],
    ['1P', 1e15],
    ['1E', 1e18],
    ['1Ki', 2 ** 10],
    ['1Mi', 2 ** 20],
    ['1Gi', 2 ** 30],
    ['1Ti', 2 ** 40],
    ['1Pi', 2 ** 50],
    ['1Ei', 2 ** 60],
    ['3e10', 3e10],
    ['1E3', 1e3],
    ['1e-3', 1e-3],
    ['2e+2', 200],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['100m', 0.1],
    ['.5', 0.5],
    ['1.', 1],
    ['+1', 1],
    [' 1Gi ', 2 ** 30],
    ['0', 0],
    [3e10, 3e10],
  ];
  for (const [quantity, value] of cases) assert.equal(parseQuantity(quantity), value, JSON.stringify(quantity));
  for (const bad of ['1.5.0', '1GB', 'lots', '', '1 Gi', 'e3', '1e', '0x10', '1Ki5', '1mi', '1K', '--1', '.']) {
    assert.equal(parseQuantity(bad), undefined, JSON.stringify(bad));
  }
  // Rounded up, as Quantity.Value() and MilliValue() do.
  assert.equal(memoryBytes('100m'), 1);
  assert.equal(cpuMillis('1.5m'), 2);
  assert.equal(cpuMillis('0.1'), 100);
  assert.equal(cpuMillis('2'), 2000);
  assert.equal(memoryBytes('-1Gi'), undefined);
});

function contextWith(policy: Policy, allow: Record<string, unknown>): CheckContext {
  return { ...checkContextFor(policy), allow: AllowancesSchema.parse(allow) };
}

test('the shipped baseline passes checkPod and checkDockerCreate as the engine renders it', async () => {
  const policy = await repoPolicy();
  const context = checkContextFor(policy);
  assert.deepEqual(checkPod(basePod(policy), context), []);
  assert.deepEqual(checkDockerCreate(createBodyOf(policy.baseline.docker.execution), context), []);
});

test('checkDockerCreate: Engine API fields outside the allowlist are refused, risky ones under their own rule', async () => {
  const policy = await repoPolicy();
  const context = checkContextFor(policy);
  const body = createBodyOf(policy.baseline.docker.execution) as { HostConfig: Record<string, unknown> } & Record<string, unknown>;
  const rules = (extra: Record<string, unknown>, host: Record<string, unknown> = {}) =>
    checkDockerCreate({ ...body, ...extra, HostConfig: { ...body.HostConfig, ...host } }, context).map((v) => `${v.rule} ${v.path}`);
  assert.deepEqual(rules({}, { Privileged: true }), ['no-privileged HostConfig.Privileged']);
  assert.deepEqual(rules({}, { Binds: ['/:/host'] }), ['no-host-path HostConfig.Binds']);
  assert.deepEqual(rules({}, { OomKillDisable: true }), ['field-not-allowed HostConfig.OomKillDisable']);
  assert.deepEqual(rules({ Entrypoint: ['/bin/sh'] }), ['field-not-allowed Entrypoint']);
  assert.deepEqual(rules({}, { Memory: 0, MemorySwap: 0 }), ['limits-required HostConfig.Memory']);
  assert.deepEqual(rules({ Env: ['LD_AUDIT=/tmp/a.so'] }), ['no-loader-env Env[0]']);
  assert.deepEqual(rules({}, { SecurityOpt: ['no-new-privileges:true', 'seccomp=builtin'] }), []);
  assert.deepEqual(rules({ User: '2147483648:1000' }), ['no-root-user User']);
});

test('checkDockerCreate: tmpfs flags read in order as mount does, so a later suid or dev undoes the hardening; size=0 is no limit', async () => {
  const policy = await repoPolicy();
  const context = checkContextFor(policy);
  const body = createBodyOf(policy.baseline.docker.execution) as { HostConfig: Record<string, unknown> } & Record<string, unknown>;
  const tmpfs = (options: string) => checkDockerCreate({ ...body, HostConfig: { ...body.HostConfig, Tmpfs: { '/tmp': options } } }, context).map((v) => `${v.rule}: ${v.message}`);
  assert.deepEqual(tmpfs('rw,nosuid,nodev,size=64m'), []);
  assert.deepEqual(tmpfs('rw,suid,nosuid,size=1G'), [], 'the last of suid/nosuid wins');
  assert.deepEqual(tmpfs('rw,nosuid,size=64m,suid'), ['tmpfs-options: tmpfs /tmp: needs nosuid (and no later suid)']);
  assert.deepEqual(tmpfs('rw,nodev,size=64m'), ['tmpfs-options: tmpfs /tmp: needs nosuid (and no later suid)']);
  assert.deepEqual(tmpfs('rw,nosuid,nodev,dev,size=64m'), ['tmpfs-options: tmpfs /tmp: dev allows device files; leave it out or use nodev']);
  assert.deepEqual(tmpfs('rw,nosuid'), ['tmpfs-options: tmpfs /tmp: needs a size=']);
  assert.deepEqual(tmpfs('rw,nosuid,size=0'), ['tmpfs-options: tmpfs /tmp: size=0 means no limit at all']);
  assert.deepEqual(tmpfs('rw,nosuid,size=64m,size=000k'), ['tmpfs-options: tmpfs /tmp: size=0 means no limit at all'], 'the last size= counts');
  assert.deepEqual(tmpfs('rw,nosuid,size=lots'), ['tmpfs-options: tmpfs /tmp: size=lots is not a tmpfs size']);
});

test('checkPod: volumes and resources a limit does not cover — a sourceless volume, sizeLimit 0, extended resources; seccomp and runtime annotations', async () => {
  const policy = await repoPolicy();
  const context = checkContextFor(policy);
  const rules = (change: (pod: { metadata: Record<string, unknown>; spec: Record<string, unknown> & { containers: { resources: { limits: Record<string, unknown> } }[] } }) => void) => {
    const pod = structuredClone(basePod(policy)) as Parameters<typeof change>[0];
    change(pod);
    return checkPod(pod, context).map((v) => `${v.rule} ${v.path}`);
  };
  assert.deepEqual(
    rules((pod) => {
      pod.spec.volumes = [{ name: 'scratch' }];
    }),
    ['volume-size-limit spec.volumes[0]'],
  );
  assert.deepEqual(
    rules((pod) => {
      pod.spec.volumes = [{ name: 'scratch', emptyDir: { sizeLimit: 0 } }];
    }),
    ['limit-zero spec.volumes[0].emptyDir.sizeLimit'],
  );
  // No emptyDir larger than the baseline's largest (64Mi): a disk-backed one fills the node's disk up to it.
  assert.equal(context.ceilings.volume, 64 * 2 ** 20);
  assert.deepEqual(
    rules((pod) => {
      pod.spec.volumes = [
        { name: 'a', emptyDir: { sizeLimit: '64Mi' } },
        { name: 'b', emptyDir: { sizeLimit: '67108865' } },
      ];
    }),
    ['resource-ceiling spec.volumes[1].emptyDir.sizeLimit'],
  );
  assert.deepEqual(
    rules((pod) => {
      pod.spec.containers[0]!.resources.limits['nvidia.com/gpu'] = '1';
      pod.spec.containers[0]!.resources.limits['ephemeral-storage'] = '1Gi';
    }),
    ['resource-ceiling spec.containers[0].resources.limits["nvidia.com/gpu"]'],
  );
  for (const [value, expected] of [
    ['unconfined', ['seccomp-required metadata.annotations["seccomp.security.alpha.kubernetes.io/pod"]']],
    ['localhost/allow-all.json', ['seccomp-required metadata.annotations["seccomp.security.alpha.kubernetes.io/pod"]']],
    ['runtime/default', []],
  ] as const) {
    assert.deepEqual(
      rules((pod) => {
        pod.metadata.annotations = { 'seccomp.security.alpha.kubernetes.io/pod': value };
      }),
      expected,
      value,
    );
  }
  assert.deepEqual(
    rules((pod) => {
      pod.metadata.annotations = { 'io.kubernetes.cri-o.userns-mode': 'host', 'io.containerd.x': '1', 'team.example/owner': 'data' };
    }),
    ['runtime-annotations metadata.annotations["io.kubernetes.cri-o.userns-mode"]', 'runtime-annotations metadata.annotations["io.containerd.x"]'],
  );
});

test('checkPod: exact values the baseline allows pass; anything else in the same field is refused', async () => {
  const policy = await repoPolicy();
  const pod = structuredClone(basePod(policy)) as { spec: Record<string, unknown> & { securityContext: Record<string, unknown>; containers: Record<string, unknown>[] } };
  pod.spec.priorityClassName = 'sessions';
  pod.spec.tolerations = [{ key: 'sessions', operator: 'Exists', effect: 'NoSchedule' }];
  pod.spec.securityContext.seccompProfile = { type: 'Localhost', localhostProfile: 'profiles/session.json' };
  pod.spec.volumes = [...(pod.spec.volumes as unknown[]), { name: 'ca', secret: { secretName: 'session-ca' } }];
  pod.spec.containers[0]!.env = [{ name: 'LD_LIBRARY_PATH', value: '/opt/lib' }];
  const rules = (context: CheckContext) =>
    checkPod(pod, context)
      .map((v) => `${v.rule} ${v.path}`)
      .sort();
  assert.deepEqual(rules(checkContextFor(policy)), [
    'no-loader-env spec.containers[0].env[0].name',
    'no-scheduling-override spec.priorityClassName',
    'no-scheduling-override spec.tolerations[0]',
    'no-secret-volumes spec.volumes[2].secret',
    'seccomp-required spec.securityContext.seccompProfile.localhostProfile',
  ]);
  const allowed = contextWith(policy, {
    priorityClassNames: ['sessions'],
    tolerations: [{ effect: 'NoSchedule', key: 'sessions', operator: 'Exists' }],
    seccompProfiles: ['profiles/session.json'],
    secrets: ['session-ca'],
    environment: ['LD_LIBRARY_PATH'],
  });
  assert.deepEqual(rules(allowed), []);
});

test('checkPod: requests may be left to default to the limits; limits may not be left out', async () => {
  const policy = await repoPolicy();
  const pod = structuredClone(basePod(policy)) as { spec: { containers: { resources: Record<string, unknown> }[] } };
  pod.spec.containers[0]!.resources = { limits: { cpu: '1', memory: '512Mi' } };
  assert.deepEqual(checkPod(pod, checkContextFor(policy)), []);
  pod.spec.containers[0]!.resources = { requests: { cpu: '1', memory: '512Mi' } };
  assert.deepEqual(
    checkPod(pod, checkContextFor(policy)).map((v) => v.rule),
    ['limits-required', 'limits-required'],
  );
});

test('lint warns about a profile that matches every user and about egress to every address', async () => {
  const base = await repoPolicy();
  const profile = (text: string, file: string) => parseProfileSource(text, file).profile!;
  const policy: Policy = {
    ...base,
    profiles: sortProfiles([
      profile('match: {}\noverlay:\n  egress:\n    - cidr: 0.0.0.0/0\n', 'everyone.yaml'),
      profile('match: { users: ["*"], sourceCidrs: ["::/0"] }\noverlay: { environment: { A: "1" } }\n', 'star.yaml'),
      profile('match: { groups: [ops] }\noverlay: { environment: { A: "1" } }\n', 'ops.yaml'),
      profile('match: {}\ndeny: { message: closed }\n', 'closed.yaml'),
      profile('match: { users: ["**"], authMethods: [publickey] }\noverlay: { environment: { A: "1" } }\n', 'keys.yaml'),
      profile('match: { users: ["**"] }\noverlay: { environment: { A: "1" } }\n', 'stars.yaml'),
      profile('match: { groups: [ops] }\noverlay:\n  docker:\n    host:\n      networkMode: bridge\n', 'bridge.yaml'),
      profile('match: { groups: [ops] }\noverlay:\n  docker:\n    host:\n      networkMode: none\n', 'none.yaml'),
    ]),
  };
  const found = policyWarnings(policy).map((d) => `${d.file}:${d.line} ${d.rule} ${d.severity}`);
  assert.deepEqual(found, [
    'bridge.yaml:5 egress-anywhere warning',
    'everyone.yaml:1 match-everyone warning',
    'everyone.yaml:4 egress-anywhere warning',
    'star.yaml:1 match-everyone warning',
    'stars.yaml:1 match-everyone warning',
  ]);
});

test('a warning is reported by lint but never refuses the set', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-warning-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'everyone.yaml');
  await writeFile(file, '# Everyone may reach the mirror.\noverlay:\n  egress:\n    - cidr: "::/0"\n');
  const { policy, diagnostics } = await lintDir(REPO_POLICY_DIR, [file]);
  assert.ok(policy, 'the set loads');
  assert.deepEqual(diagnostics.map(formatDiagnostic), [
    `${file}:2:1: warning: match-everyone: profile everyone matches every user; its overlay is part of every session (fix: ${RULES['match-everyone']})`,
    `${file}:4:13: warning: egress-anywhere: profile everyone opens egress to ::/0, every address (fix: ${RULES['egress-anywhere']})`,
  ]);
});
