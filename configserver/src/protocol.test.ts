import assert from 'node:assert/strict';
import { test, before } from 'node:test';
import { ConfigResponseSchema, ErrorResponseSchema } from '@portcullis/wire';
import { buildApp } from './app.ts';
import type { Policy } from './policy/index.ts';
import { repoPolicy } from './testing/policy.ts';
import { containerSshExample } from '../../test/helpers/reference.ts';
import { assertMalformedBodiesRefused } from '../../test/helpers/malformed-bodies.ts';

let policy: Policy;
before(async () => {
  policy = await repoPolicy();
});

const valid = {
  username: 'alice',
  authenticatedUsername: 'alice',
  remoteAddress: '192.0.2.10:51234',
  connectionId: '3f2504e04f8911d39a0c0305e82c3301',
  clientVersion: 'SSH-2.0-x',
  metadata: { authMethod: { value: 'password', sensitive: false } },
  environment: { PROJECT: { value: 'demo', sensitive: false } },
  files: { '/home/user/x': { value: 'eA==', sensitive: false } },
};

test('/config: 1,000 malformed bodies give no 5xx and no crash', { timeout: 120_000 }, async (t) => {
  const app = buildApp({ policy });
  t.after(() => app.close());
  await assertMalformedBodiesRefused(app, '/config', valid, (body) => ErrorResponseSchema.parse(body));
});

test('GET /openapi.json serves the document generated from the routes, the policy denial (403) listed', async (t) => {
  const app = buildApp({ policy });
  t.after(() => app.close());
  const res = await app.inject({ method: 'GET', url: '/openapi.json' });
  assert.equal(res.statusCode, 200);
  const doc = res.json() as { paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>> };
  assert.deepEqual(Object.keys(doc.paths).sort(), ['/config', '/healthz', '/openapi.json']);
  const answers = doc.paths['/config']!.post!.responses;
  assert.deepEqual(Object.keys(answers).sort(), ['200', '400', '403', '413', '415', '500']);
  assert.match(answers['403']!.description, /CONFIG_POLICY_DENIED/);
});

test('/config with the derived ContainerSSH request verbatim answers a valid config', async (t) => {
  const app = buildApp({ policy });
  t.after(() => app.close());
  const res = await app.inject({ method: 'POST', url: '/config', payload: await containerSshExample('derived/authz-request.json') });
  assert.equal(res.statusCode, 200, res.body);
  ConfigResponseSchema.parse(res.json());
});

test('/config with the docs example verbatim: its placeholder file content is a clear 400, not a 5xx', async (t) => {
  const app = buildApp({ policy });
  t.after(() => app.close());
  const res = await app.inject({ method: 'POST', url: '/config', payload: await containerSshExample('config-request.json') });
  assert.equal(res.statusCode, 400);
  const body = ErrorResponseSchema.parse(res.json());
  assert.equal(body.code, 'CONFIG_REQUEST_INVALID');
  assert.match(body.message, /files\.\/path\/to\/file\.value/);
});
