import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { classifyPod } from './pod-status.ts';

/** A pod as the API server reports it while it starts; each test sets the status it is about. */
function pod(status: V1Pod['status'], nodeName?: string): V1Pod {
  return { metadata: { name: 'p' }, spec: { containers: [{ name: 'shell', image: 'portcullis/session:dev' }], ...(nodeName ? { nodeName } : {}) }, status };
}

const waiting = (reason: string, message = '') => ({
  containerStatuses: [{ name: 'shell', image: 'portcullis/session:dev', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason, message } } }],
});

test('a pending pod not yet scheduled says so', () => {
  const state = classifyPod(pod({ phase: 'Pending' }), 'shell');
  assert.equal(state.kind, 'pending');
  assert.match(state.kind === 'pending' ? state.line : '', /schedule/);
});

test('a scheduled pod whose container is being created says it pulls the image', () => {
  const state = classifyPod(pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }], ...waiting('ContainerCreating') }, 'node-1'), 'shell');
  assert.equal(state.kind, 'pending');
  assert.match(state.kind === 'pending' ? state.line : '', /scheduled on node-1: pulling image portcullis\/session:dev/);
});

test('Running with the console container running is ready', () => {
  const status = { phase: 'Running', containerStatuses: [{ name: 'shell', image: 'x', imageID: '', ready: true, restartCount: 0, state: { running: {} } }] };
  assert.deepEqual(classifyPod(pod(status), 'shell'), { kind: 'running' });
});

test('each failure class maps to its own code, naming the problem', () => {
  const cases: Array<[V1Pod['status'], string, RegExp]> = [
    [{ phase: 'Pending', ...waiting('ErrImagePull', 'pull access denied') }, 'KUBERNETES_IMAGE_PULL_FAILED', /image portcullis\/session:dev could not be pulled/],
    [{ phase: 'Pending', ...waiting('ImagePullBackOff') }, 'KUBERNETES_IMAGE_PULL_FAILED', /could not be pulled/],
    [{ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available' }] }, 'KUBERNETES_POD_UNSCHEDULABLE', /no room/],
    [{ phase: 'Pending', ...waiting('CreateContainerConfigError') }, 'KUBERNETES_POD_WAIT_FAILED', /could not be started/],
    [{ phase: 'Failed', reason: 'Evicted' }, 'KUBERNETES_POD_WAIT_FAILED', /stopped as soon as it started/],
  ];
  for (const [status, code, message] of cases) {
    const state = classifyPod(pod(status), 'shell');
    assert.equal(state.kind, 'failed', JSON.stringify(status));
    if (state.kind !== 'failed') continue;
    assert.equal(state.error.code, code);
    assert.match(state.error.userMessage, message);
    assert.doesNotMatch(state.error.userMessage, /pull access denied|0\/3 nodes/, 'the API text stays in the cause');
  }
});
