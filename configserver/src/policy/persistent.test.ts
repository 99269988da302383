import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigResponseSchema } from '@portcullis/wire';
import { repoPolicy } from '../testing/policy.ts';
import { lintPolicy } from './lint.ts';
import { parseProfileSource, sortProfiles, type Policy } from './load.ts';
import { persistentName } from './persistent.ts';
import { renderConfig } from './render.ts';

const request = (username: string) => ({ username, authenticatedUsername: username, remoteAddress: '192.0.2.10:51234', connectionId: '3f2504e04f8911d39a0c0305e82c3301' });
const HOME_PROFILE = 'match:\n  users: [ann, bob, "Ann.B", ann-b]\noverlay:\n  mode: persistent\n';

async function withHomeProfile(backend: 'docker' | 'kubernetes'): Promise<Policy> {
  const shipped = await repoPolicy();
  return { ...shipped, baseline: { ...shipped.baseline, backend }, profiles: sortProfiles([parseProfileSource(HOME_PROFILE, 'home.yaml').profile!]) };
}

test('persistent names are DNS labels, stable per user, and distinct for users whose names read alike', () => {
  const names = ['ann', 'Ann.B', 'ann-b', 'ANN_B', '', '---', 'x'.repeat(300), 'zoë@example.org'].map(persistentName);
  for (const name of names) assert.match(name, /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, name);
  assert.equal(new Set(names).size, names.length, 'one name per user');
  assert.equal(persistentName('Ann.B'), persistentName('Ann.B'));
  assert.match(persistentName('Ann.B'), /^portcullis-ann-b-[0-9a-f]{10}$/);
});

test('a persistent profile on Docker names each user their own container, created on first use', async () => {
  const policy = await withHomeProfile('docker');
  assert.deepEqual(lintPolicy(policy), [], 'a persistent profile lints clean');
  const ann = ConfigResponseSchema.parse(renderConfig(request('ann'), policy)).config.docker!.execution;
  const bob = ConfigResponseSchema.parse(renderConfig(request('bob'), policy)).config.docker!.execution;
  assert.equal(ann.mode, 'persistent');
  assert.equal(ann.containerName, persistentName('ann'));
  assert.equal(ann.createMissingContainers, true);
  assert.equal(bob.containerName, persistentName('bob'), 'answers for one profile set are never shared between users');
  assert.equal(ConfigResponseSchema.parse(renderConfig(request('ann'), policy)).config.docker!.execution.containerName, persistentName('ann'));
});

test('a persistent profile on Kubernetes names each user their own pod, with the idle timeout', async () => {
  const base = await withHomeProfile('kubernetes');
  const policy = { ...base, baseline: { ...base.baseline, kubernetes: { ...base.baseline.kubernetes!, persistent: { idleTimeout: '8h' } } } };
  const pod = ConfigResponseSchema.parse(renderConfig(request('Ann.B'), policy)).config.kubernetes!.pod;
  assert.equal(pod.mode, 'persistent');
  assert.equal(pod.podName, persistentName('Ann.B'));
  assert.equal(pod.createMissingPods, true);
  assert.equal(pod.persistentIdleTimeout, '8h');
  assert.notEqual(ConfigResponseSchema.parse(renderConfig(request('ann-b'), policy)).config.kubernetes!.pod.podName, pod.podName);
});

test('users no persistent profile matches keep connection mode', async () => {
  const execution = ConfigResponseSchema.parse(renderConfig(request('carol'), await withHomeProfile('docker'))).config.docker!.execution;
  assert.equal(execution.mode, 'connection');
  assert.equal(execution.containerName, undefined);
});
