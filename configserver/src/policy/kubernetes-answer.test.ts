import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigResponseSchema } from '@portcullis/wire';
import { repoPolicy } from '../testing/policy.ts';
import { checkPodSecurity } from './pod-security.ts';
import { renderConfig } from './render.ts';

const request = (username: string) => ({
  username,
  authenticatedUsername: username,
  remoteAddress: '192.0.2.10:51234',
  connectionId: '3f2504e04f8911d39a0c0305e82c3301',
});

test('with backend kubernetes the answer is the rendered hardened pod, in the session namespace', async () => {
  const shipped = await repoPolicy();
  const policy = { ...shipped, baseline: { ...shipped.baseline, backend: 'kubernetes' as const } };
  const answer = ConfigResponseSchema.parse(renderConfig(request('bob'), policy));
  assert.equal(answer.config.backend, 'kubernetes');
  assert.equal(answer.config.docker, undefined);
  const pod = answer.config.kubernetes!.pod;
  assert.equal(pod.metadata?.namespace, 'portcullis-sessions');
  assert.equal(pod.mode, 'connection');
  assert.deepEqual(pod.shellCommand, ['/bin/bash', '-l']);
  const spec = pod.spec as { automountServiceAccountToken?: boolean; containers: Array<{ image?: string; securityContext?: { readOnlyRootFilesystem?: boolean } }> };
  assert.equal(spec.automountServiceAccountToken, false);
  assert.equal(spec.containers[0]?.image, 'portcullis/session:dev');
  assert.equal(spec.containers[0]?.securityContext?.readOnlyRootFilesystem, true);
  assert.deepEqual(checkPodSecurity({ metadata: pod.metadata, spec: pod.spec }), [], 'passes Pod Security restricted');
});

test('the shipped baseline still answers Docker', async () => {
  const answer = renderConfig(request('bob'), await repoPolicy());
  assert.equal(answer.config.backend, 'docker');
  assert.equal(answer.config.kubernetes, undefined);
});

test('baseline kubernetes.persistent.idleTimeout reaches the gateway as the pod persistentIdleTimeout; absent by default', async () => {
  const shipped = await repoPolicy();
  const kubernetes = { ...shipped.baseline, backend: 'kubernetes' as const };
  const without = ConfigResponseSchema.parse(renderConfig(request('bob'), { ...shipped, baseline: kubernetes }));
  assert.equal(without.config.kubernetes!.pod.persistentIdleTimeout, undefined, 'no timeout unless the policy sets one');
  const baseline = { ...kubernetes, kubernetes: { ...kubernetes.kubernetes!, persistent: { idleTimeout: '8h' } } };
  const answer = ConfigResponseSchema.parse(renderConfig(request('bob'), { ...shipped, baseline }));
  assert.equal(answer.config.kubernetes!.pod.persistentIdleTimeout, '8h');
});
