import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigResponseSchema } from '@portcullis/wire';
import { repoPolicy } from '../testing/policy.ts';
import { parseBaseline, renderConfig, type Policy } from './index.ts';
import { sessionUid } from './session-uid.ts';

const request = {
  username: 'alice',
  authenticatedUsername: 'alice',
  remoteAddress: '192.0.2.10:51234',
  connectionId: '3f2504e04f8911d39a0c0305e82c3301',
};

test('the shipped baseline is the hardened container', async () => {
  const { baseline } = await repoPolicy();
  const { container, host, imagePullPolicy, shellCommand } = baseline.docker.execution;
  assert.equal(container.image, 'portcullis/session:dev');
  assert.equal(container.user, '1000:1000');
  assert.equal(imagePullPolicy, 'IfNotPresent');
  assert.deepEqual(shellCommand, ['/bin/bash', '-l']);
  assert.ok(container.env?.includes('HOME=/home/user'));
  assert.deepEqual(host, {
    readonlyRootfs: true,
    capDrop: ['ALL'],
    securityOpt: ['no-new-privileges:true'],
    pidsLimit: 256,
    memory: 512 * 1024 * 1024,
    memorySwap: 512 * 1024 * 1024,
    nanoCpus: 1_000_000_000,
    tmpfs: {
      '/tmp': 'rw,nosuid,nodev,size=64m,mode=1777',
      '/home/user': 'rw,nosuid,nodev,size=64m,uid=1000,gid=1000,mode=0700',
    },
    networkMode: 'none',
    ipcMode: 'private',
    cgroupnsMode: 'private',
  });
});

/** The baseline execution as one user gets it: the uid derived for that user in place of 1000. */
function executionFor(username: string, policy: Policy) {
  const { execution } = policy.baseline.docker;
  const uid = sessionUid(username, policy.baseline.sessionUids!);
  const tmpfs = Object.fromEntries(Object.entries(execution.host.tmpfs ?? {}).map(([path, options]) => [path, options.replace('uid=1000,gid=1000', `uid=${uid},gid=${uid}`)]));
  return { ...execution, container: { ...execution.container, user: `${uid}:${uid}` }, host: { ...execution.host, tmpfs } };
}

test('render answers the baseline, valid under ConfigResponseSchema, and never shares state', async () => {
  const policy = await repoPolicy();
  const answer = renderConfig(request, policy);
  assert.deepEqual(ConfigResponseSchema.parse(answer), answer);
  assert.equal(answer.config.backend, 'docker');
  assert.deepEqual(answer.config.docker?.execution, executionFor('alice', policy));
  // The answer is shared by every request with the same render: no receiver can change it.
  assert.throws(() => (answer.config.docker!.execution.host.capDrop!.length = 0), TypeError);
  assert.deepEqual(renderConfig(request, policy).config.docker?.execution.host.capDrop, ['ALL']);
  assert.deepEqual(policy.baseline.docker.execution.host.capDrop, ['ALL']);
});

test('a policy that renders an invalid answer throws CONFIG_RENDER_FAILED', async () => {
  const policy = await repoPolicy();
  const broken = structuredClone(policy) as Policy;
  (broken.baseline.docker.execution.host as Record<string, unknown>).privileged = true;
  assert.throws(
    () => renderConfig(request, broken),
    (err: Error & { code?: string }) => {
      return err.code === 'CONFIG_RENDER_FAILED' && /host/.test(String((err.cause as Error).message));
    },
  );
});

test('baseline errors name the file and the field path', () => {
  assert.throws(() => parseBaseline('docker: { execution: { container: { image: x }, host: { memory: "lots" } } }', 'b.yaml'), /^PolicyError: b\.yaml: docker\.execution\.host\.memory: /);
  assert.throws(() => parseBaseline('docker: { execution: { container: { image: x }, host: { privileged: true } } }', 'b.yaml'), /b\.yaml: docker\.execution\.host: Unrecognized key.*privileged/);
  assert.throws(() => parseBaseline('docker: [', 'b.yaml'), /b\.yaml: not valid YAML/);
  assert.throws(() => parseBaseline('kubernetes: {}', 'b.yaml'), /b\.yaml: (docker|\(top level\))/);
});
