import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { startKubeApiServer, type KubeApiServer } from './index.ts';

const NS = 'sessions';

/** One JSON request with the server's token, as a client sends it; resolves the status and the parsed body. */
function call(server: KubeApiServer, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ code: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}${path}`, { method, ca: server.caPem, headers: { authorization: `Bearer ${server.token}`, 'content-type': contentType } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const pod = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { containers: [{ name: 'shell', image: 'portcullis/session:dev' }], ...spec },
});

describe("test kube-apiserver: every object is checked against Kubernetes' own schema (kubernetes-models)", () => {
  let server: KubeApiServer;
  before(async () => {
    server = await startKubeApiServer({ namespaces: [NS] });
  });
  after(async () => {
    await server?.close();
  });

  it('a pod whose field has the wrong type is refused with 422 Invalid and the field named, and is not stored', async () => {
    const refused = await call(server, 'POST', `/api/v1/namespaces/${NS}/pods`, pod('typed', { activeDeadlineSeconds: 'soon' }));
    assert.equal(refused.code, 422);
    assert.equal(refused.body.kind, 'Status');
    assert.equal(refused.body.reason, 'Invalid');
    assert.equal(refused.body.message, 'Pod "typed" is invalid: spec.activeDeadlineSeconds: Invalid value: "soon": must be integer');
    assert.deepEqual((refused.body.details as { causes: unknown[] }).causes, [{ reason: 'FieldValueInvalid', message: 'Invalid value: "soon": must be integer', field: 'spec.activeDeadlineSeconds' }]);
    assert.equal((await call(server, 'GET', `/api/v1/namespaces/${NS}/pods/typed`)).code, 404);
  });

  it('a required field missing deep in the pod is named once, as the API server names it', async () => {
    const refused = await call(server, 'POST', `/api/v1/namespaces/${NS}/pods`, pod('gated', { readinessGates: [{}] }));
    assert.equal(refused.code, 422);
    assert.deepEqual((refused.body.details as { causes: unknown[] }).causes, [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.readinessGates[0].conditionType' }]);
  });

  it('a patch that breaks the schema is refused with 422 and leaves the stored object as it was', async () => {
    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'beat' }, spec: { holderIdentity: 'gateway-1', leaseDurationSeconds: 30 } };
    assert.equal((await call(server, 'POST', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`, lease)).code, 201);
    const refused = await call(server, 'PATCH', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/beat`, { spec: { holderIdentity: 42 } }, 'application/merge-patch+json');
    assert.equal(refused.code, 422);
    assert.match(String(refused.body.message), /^Lease "beat" is invalid: spec\.holderIdentity: Invalid value: 42: must be string$/);
    const stored = await call(server, 'GET', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/beat`);
    assert.equal((stored.body.spec as { holderIdentity: string }).holderIdentity, 'gateway-1');
  });

  it('a pod as the gateway sends it passes the schema and is created', async () => {
    const created = await call(server, 'POST', `/api/v1/namespaces/${NS}/pods`, pod('fine', { restartPolicy: 'Never', automountServiceAccountToken: false }));
    assert.equal(created.code, 201, JSON.stringify(created.body));
    assert.equal((await call(server, 'DELETE', `/api/v1/namespaces/${NS}/pods/fine?gracePeriodSeconds=0`)).code, 200);
  });
});
