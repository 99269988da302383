import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { REFERENCE_DIR } from '../helpers/reference.ts';
import { checkPodSecurity } from './pod-security.ts';
import { startKubeApiServer, type KubeApiServer } from './index.ts';
import { apiFailure, kubeClients, sessionPod, type KubeClients } from './client.ts';
import type { KubeObject } from './store.ts';

const FIXTURES = join(REFERENCE_DIR, 'pod-security');
const LEVELS = ['baseline', 'restricted'] as const;

/** The reason each upstream check id reports, so a fail fixture must fail for its own check. */
const REASON_OF_CHECK: Record<string, string> = {
  allowprivilegeescalation: 'allowPrivilegeEscalation != false',
  apparmorprofile: 'forbidden AppArmor profile',
  capabilities_baseline: 'non-default capabilities',
  capabilities_restricted: 'unrestricted capabilities',
  hostnamespaces: 'host namespaces',
  hostpathvolumes: 'hostPath volumes',
  hostports: 'hostPort',
  hostprobesandhostlifecycle: 'probe or lifecycle host',
  privileged: 'privileged',
  procmount: 'procMount',
  procmount_restricted: 'procMount',
  restrictedvolumes: 'restricted volume types',
  runasnonroot: 'runAsNonRoot != true',
  runasuser: 'runAsUser=0',
  seccompprofile_baseline: 'seccompProfile',
  seccompprofile_restricted: 'seccompProfile',
  selinuxoptions: 'seLinuxOptions',
  sysctls: 'forbidden sysctls',
  windowshostprocess: 'hostProcess',
};

async function fixtures(level: string, outcome: 'pass' | 'fail'): Promise<Array<{ file: string; pod: KubeObject }>> {
  const dir = join(FIXTURES, level, outcome);
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  return Promise.all(files.map(async (file) => ({ file, pod: parse(await readFile(join(dir, file), 'utf8')) as KubeObject })));
}

describe('Pod Security admission of the test kube-apiserver agrees with the upstream fixtures', () => {
  for (const level of LEVELS) {
    it(`${level}: every pass fixture is allowed, every fail fixture is refused for its own check`, async () => {
      const pass = await fixtures(level, 'pass');
      const fail = await fixtures(level, 'fail');
      assert.ok(pass.length > 10 && fail.length > 30, `fixtures found under ${FIXTURES}`);
      for (const { file, pod } of pass) assert.deepEqual(checkPodSecurity(level, pod), [], `${level}/pass/${file}`);
      for (const { file, pod } of fail) {
        const violations = checkPodSecurity(level, pod);
        const check = file.replace(/\d+\.yaml$/, '');
        // At restricted, capabilities_restricted replaces the baseline capabilities check.
        const reason = level === 'restricted' && check === 'capabilities_baseline' ? 'unrestricted capabilities' : REASON_OF_CHECK[check];
        assert.ok(reason, `known check for ${file}`);
        // Some fixtures also trip a neighbouring check (a hostPath volume is a restricted volume type too).
        assert.ok(
          violations.some((v) => v.startsWith(reason)),
          `${level}/fail/${file}: ${violations.join(' | ')}`,
        );
      }
    });
  }

  it('names every restricted violation of a default pod in the real message format', () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } } as unknown as KubeObject;
    assert.deepEqual(checkPodSecurity('restricted', pod), [
      'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false)',
      'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"])',
      'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true)',
      'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
    ]);
    assert.deepEqual(checkPodSecurity('baseline', pod), []);
  });
});

describe('the API server enforces the namespace enforce label on create', () => {
  let server: KubeApiServer;
  let clients: KubeClients;
  before(async () => {
    server = await startKubeApiServer({
      namespaces: [
        { name: 'locked', labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
        { name: 'base', labels: { 'pod-security.kubernetes.io/enforce': 'baseline' } },
      ],
    });
    clients = await kubeClients(server, 'locked');
  });
  after(async () => {
    await clients?.dispose();
    await server?.close();
  });

  it('refuses a non-compliant pod with 403 and the PodSecurity message', async () => {
    const failure = await apiFailure(
      clients.core.createNamespacedPod({ namespace: 'locked', body: { metadata: { name: 'loose' }, spec: { containers: [{ name: 'c', image: 'portcullis/session:dev' }] } } }),
    );
    assert.equal(failure.code, 403);
    assert.equal(failure.body.reason, 'Forbidden');
    assert.equal(
      failure.body.message,
      'pods "loose" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
    );
    assert.deepEqual(failure.body.details, { name: 'loose', kind: 'pods' });
  });

  it('admits the hardened session pod (dry run)', async () => {
    const created = await clients.core.createNamespacedPod({ namespace: 'locked', body: sessionPod('hardened'), dryRun: 'All' });
    assert.equal(created.metadata?.name, 'hardened');
    assert.deepEqual(server.pods('locked'), []);
  });

  it('agrees with every fixture through the API (dry run)', async () => {
    for (const level of LEVELS) {
      const namespace = level === 'restricted' ? 'locked' : 'base';
      for (const outcome of ['pass', 'fail'] as const) {
        for (const { file, pod } of await fixtures(level, outcome)) {
          // Fixture names carry underscores, which a pod name may not.
          pod.metadata.name = pod.metadata.name.replace(/_/g, '-');
          const call = clients.core.createNamespacedPod({ namespace, body: pod as never, dryRun: 'All' });
          if (outcome === 'pass') await call;
          else {
            const failure = await apiFailure(call);
            assert.equal(failure.code, 403, `${level}/${outcome}/${file}`);
            assert.match(String(failure.body.message), new RegExp(`^pods "${pod.metadata.name}" is forbidden: violates PodSecurity "${level}:latest": `));
          }
        }
      }
    }
  });
});
