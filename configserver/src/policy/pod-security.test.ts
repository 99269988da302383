import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { checkPodOs, checkPodSecurity, OVERRIDDEN_AT_RESTRICTED, type PodSecurityLevel } from './pod-security.ts';

/** Upstream's Pod Security Admission fixtures, read where they live (never copied into the repo). */
const REFERENCE_DIR = process.env.PORTCULLIS_REFERENCE_DIR ?? fileURLToPath(new URL('../../../../shared/reference/', import.meta.url));
const FIXTURES = join(REFERENCE_DIR, 'pod-security');

/** `runasnonroot0.yaml` → `runasnonroot`; checks compare lower-cased, as upstream names the files. */
const checkOf = (file: string) => file.replace(/\d*\.yaml$/, '');

for (const level of ['restricted', 'baseline'] as PodSecurityLevel[]) {
  test(`${level}: every upstream pass fixture is admitted`, async () => {
    const files = (await readdir(join(FIXTURES, level, 'pass'))).filter((file) => file.endsWith('.yaml'));
    assert.ok(files.length >= (level === 'restricted' ? 23 : 15), `fixtures found in ${FIXTURES}`);
    for (const file of files) {
      const pod = parse(await readFile(join(FIXTURES, level, 'pass', file), 'utf8'));
      assert.deepEqual(checkPodSecurity(pod, level), [], `${level}/pass/${file}`);
    }
  });

  test(`${level}: every upstream fail fixture is rejected, naming its check`, async () => {
    const files = (await readdir(join(FIXTURES, level, 'fail'))).filter((file) => file.endsWith('.yaml'));
    assert.ok(files.length >= (level === 'restricted' ? 76 : 34), `fixtures found in ${FIXTURES}`);
    for (const file of files) {
      const pod = parse(await readFile(join(FIXTURES, level, 'fail', file), 'utf8'));
      const checks = checkPodSecurity(pod, level).map((violation) => violation.check.toLowerCase());
      // At restricted a baseline check with a stricter replacement is reported by the replacement, as upstream does.
      const replaced = Object.entries(OVERRIDDEN_AT_RESTRICTED).find(([check]) => check.toLowerCase() === checkOf(file));
      const expected = level === 'restricted' && replaced ? replaced[1].toLowerCase() : checkOf(file);
      assert.ok(checks.includes(expected), `${level}/fail/${file}: expected ${expected}, got [${checks.join(', ')}]`);
    }
  });
}

/** The minimal restricted pod (upstream's restricted base fixture, written out). */
function restrictedPod(): { metadata: Record<string, unknown>; spec: Record<string, unknown> & { containers: Record<string, unknown>[]; securityContext: Record<string, unknown> } } {
  return {
    metadata: { name: 'p' },
    spec: {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'c', image: 'i', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
    },
  };
}
const checksOf = (pod: unknown, level: PodSecurityLevel = 'restricted') => checkPodSecurity(pod, level).map((violation) => violation.check);

test('v1.37 parity: hostUsers: false exempts runAsNonRoot and runAsUser, never procMount at restricted', () => {
  const pod = restrictedPod();
  pod.spec.securityContext = { runAsNonRoot: false, runAsUser: 0, seccompProfile: { type: 'RuntimeDefault' } };
  assert.deepEqual([...new Set(checksOf(pod))].sort(), ['runAsNonRoot', 'runAsUser']);
  pod.spec.hostUsers = false;
  assert.deepEqual(checksOf(pod), []);
  (pod.spec.containers[0]!.securityContext as Record<string, unknown>).procMount = 'Unmasked';
  assert.deepEqual(checksOf(pod), ['procMount_restricted']);
  assert.deepEqual(checksOf(pod, 'baseline'), [], 'baseline allows an unmasked /proc inside a user namespace');
  pod.spec.hostUsers = true;
  assert.deepEqual(checksOf(pod, 'baseline'), ['procMount']);
});

test('v1.37 parity: the sysctls made safe in 1.32 and 1.37 pass, others do not', () => {
  const pod = restrictedPod();
  const names = ['net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem', 'net.ipv4.tcp_slow_start_after_idle', 'net.ipv4.tcp_notsent_lowat'];
  pod.spec.securityContext.sysctls = names.map((name) => ({ name, value: '1' }));
  assert.deepEqual(checksOf(pod), []);
  pod.spec.securityContext.sysctls = [{ name: 'net.core.somaxconn', value: '1' }];
  assert.deepEqual(checksOf(pod), ['sysctls']);
});

test('v1.37 parity: AppArmor — an empty annotation passes, an empty or Unconfined field type does not', () => {
  const pod = restrictedPod();
  pod.metadata.annotations = { 'container.apparmor.security.beta.kubernetes.io/c': '' };
  assert.deepEqual(checksOf(pod), []);
  pod.metadata.annotations = { 'container.apparmor.security.beta.kubernetes.io/c': 'unconfined' };
  assert.deepEqual(checksOf(pod), ['appArmorProfile']);
  pod.metadata.annotations = {};
  pod.spec.securityContext.appArmorProfile = {};
  assert.deepEqual(checksOf(pod), ['appArmorProfile']);
  pod.spec.securityContext.appArmorProfile = { type: 'Localhost', localhostProfile: 'k8s-session' };
  assert.deepEqual(checksOf(pod), []);
});

test('v1.37 parity: a container seccompProfile that is set but empty is refused even when the pod sets RuntimeDefault', () => {
  const pod = restrictedPod();
  (pod.spec.containers[0]!.securityContext as Record<string, unknown>).seccompProfile = {};
  assert.deepEqual(checksOf(pod), ['seccompProfile_restricted']);
  (pod.spec.containers[0]!.securityContext as Record<string, unknown>).seccompProfile = null;
  assert.deepEqual(checksOf(pod), [], 'null is unset, as a nil pointer is to Go');
  pod.spec.securityContext.seccompProfile = {};
  assert.deepEqual(checksOf(pod), ['seccompProfile_restricted', 'seccompProfile_restricted']);
});

test('v1.37 parity: Windows pods skip three restricted checks, and the API server refuses the Linux fields on them', () => {
  const pod = restrictedPod();
  pod.spec.os = { name: 'windows' };
  pod.spec.containers[0]!.securityContext = { allowPrivilegeEscalation: true, capabilities: { drop: [] } };
  pod.spec.securityContext = { runAsNonRoot: true };
  assert.deepEqual(checksOf(pod), [], 'Pod Security alone exempts them, as upstream');
  assert.deepEqual(
    checkPodOs(pod).map((violation) => violation.path),
    ['spec.containers[0].securityContext.capabilities', 'spec.containers[0].securityContext.allowPrivilegeEscalation'],
  );
  pod.spec.os = { name: 'linux' };
  assert.deepEqual(checksOf(pod).sort(), ['allowPrivilegeEscalation', 'capabilities_restricted', 'seccompProfile_restricted']);
});

test('v1.37 parity: a volume key that is no volume source, or a null source, is not a volume type', () => {
  const pod = restrictedPod();
  pod.spec.volumes = [
    { name: 'a', hostPath: null },
    { name: 'b', emptyDir: {} },
    { name: 'c', nfs: { server: 's', path: '/' } },
  ];
  assert.deepEqual(
    checkPodSecurity(pod).map((violation) => violation.path),
    ['spec.volumes[2].nfs'],
  );
});
