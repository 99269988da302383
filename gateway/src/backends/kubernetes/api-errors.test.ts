import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import { ApiTimeoutError, execError, podCreateError, withDeadline } from './api-errors.ts';

/** The `Status` body a real API server sends with a refusal, as client-node hands it over (text). */
function refusal(code: number, message: string, reason = 'Forbidden') {
  return new ApiException(code, 'Unknown API Status Code!', JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code }), {});
}

test('quota, admission, RBAC and invalid specs each get their code and a message without the API text', () => {
  const cases: Array<[unknown, string, RegExp]> = [
    [refusal(403, 'pods "p" is forbidden: exceeded quota: portcullis-sessions, requested: pods=1, used: pods=2, limited: pods=2'), 'KUBERNETES_QUOTA_EXCEEDED', /quota is used up/],
    [refusal(403, 'pods "p" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false'), 'KUBERNETES_ADMISSION_DENIED', /admission policy refused/],
    [refusal(400, 'admission webhook "validate.kyverno.svc-fail" denied the request: hardened-session-pod', 'BadRequest'), 'KUBERNETES_ADMISSION_DENIED', /admission policy refused/],
    [refusal(403, 'pods is forbidden: User "system:serviceaccount:portcullis:gw" cannot create resource "pods" in API group "" in the namespace "x"'), 'KUBERNETES_API_FORBIDDEN', /not allowed/],
    [new ApiException(401, 'Unauthorized', undefined, {}), 'KUBERNETES_API_FORBIDDEN', /not allowed/],
    [refusal(422, 'Pod "p" is invalid: spec.containers: Required value', 'Invalid'), 'KUBERNETES_POD_CREATE_FAILED', /rejected its pod settings/],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }), 'KUBERNETES_API_UNREACHABLE', /cannot be reached/],
    [new ApiTimeoutError('create pod', 10), 'KUBERNETES_API_UNREACHABLE', /cannot be reached/],
  ];
  for (const [cause, code, message] of cases) {
    const error = podCreateError(cause);
    assert.equal(error.code, code, String((cause as Error).message));
    assert.match(error.userMessage, message);
    assert.doesNotMatch(error.userMessage, /forbidden:|portcullis-sessions|kyverno|ECONNREFUSED/);
  }
});

test('an exec refused at the WebSocket upgrade is exec forbidden', () => {
  assert.equal(execError(new Error('Unexpected server response: 403')).code, 'KUBERNETES_EXEC_FORBIDDEN');
  assert.equal(execError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).code, 'KUBERNETES_API_UNREACHABLE');
  assert.equal(execError(new Error('Unexpected server response: 404')).code, 'KUBERNETES_EXEC_FAILED');
});

test('a call that outlives its deadline fails as a timeout, and its late failure is not unhandled', async () => {
  let fail!: (error: Error) => void;
  const slow = new Promise<never>((_, reject) => (fail = reject));
  await assert.rejects(withDeadline(slow, 10, 'create pod'), ApiTimeoutError);
  fail(new Error('late'));
});
