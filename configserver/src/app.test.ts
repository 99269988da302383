import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { ConfigResponseSchema } from '@portcullis/wire';
import { buildApp } from './app.ts';
import { createLogger } from './logger.ts';
import type { Policy } from './policy/index.ts';
import { containerSshExample } from '../../test/helpers/reference.ts';
import { repoPolicy } from './testing/policy.ts';

let policy: Policy;
before(async () => {
  policy = await repoPolicy();
});

const request = {
  username: 'alice',
  authenticatedUsername: 'alice',
  remoteAddress: '192.0.2.10:51234',
  connectionId: '3f2504e04f8911d39a0c0305e82c3301',
};

function app(t: { after: (fn: () => Promise<unknown>) => void }, options: { policy?: Policy; logLines?: string[] } = {}) {
  const { logLines } = options;
  const logger = logLines ? createLogger('debug', new Writable({ write: (chunk, _enc, done) => (logLines.push(String(chunk)), done()) })) : undefined;
  const instance: FastifyInstance = buildApp({ policy: options.policy ?? policy, ...(logger ? { logger } : {}) });
  t.after(() => instance.close());
  return instance;
}

test('a valid request gets the hardened Docker config', async (t) => {
  const res = await app(t).inject({ method: 'POST', url: '/config', payload: request });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = ConfigResponseSchema.parse(res.json());
  assert.equal(body.config.backend, 'docker');
  const execution = body.config.docker!.execution;
  assert.equal(execution.host.readonlyRootfs, true);
  assert.deepEqual(execution.host.capDrop, ['ALL']);
  assert.deepEqual(execution.host.securityOpt, ['no-new-privileges:true']);
  assert.equal(execution.host.networkMode, 'none');
  const [uid, gid] = (execution.container.user ?? '').split(':').map(Number);
  assert.ok(uid !== undefined && uid >= 100_000 && gid === uid, `a uid of alice's own, not the image's 1000: ${execution.container.user}`);
  assert.equal(execution.host.memorySwap, execution.host.memory);
});

test('the ContainerSSH reference authz body is accepted as a config request', async (t) => {
  const res = await app(t).inject({ method: 'POST', url: '/config', payload: await containerSshExample('derived/authz-request.json') });
  assert.equal(res.statusCode, 200);
  ConfigResponseSchema.parse(res.json());
});

test('malformed requests get 400 CONFIG_REQUEST_INVALID naming the field, never 5xx', async (t) => {
  const instance = app(t);
  const cases: Array<[unknown, RegExp]> = [
    [{ ...request, authenticatedUsername: undefined }, /authenticatedUsername/],
    [{ ...request, username: '' }, /username/],
    [{ ...request, environment: { 'BAD-NAME': { value: 'x' } } }, /environment/],
    [{ ...request, files: { 'relative/path': { value: 'eA==' } } }, /files/],
    [[1, 2], /body/],
  ];
  for (const [payload, field] of cases) {
    const res = await instance.inject({ method: 'POST', url: '/config', payload: payload as object });
    assert.equal(res.statusCode, 400, JSON.stringify(payload));
    assert.equal(res.json().code, 'CONFIG_REQUEST_INVALID');
    assert.match(res.json().message, field);
  }
  for (const payload of ['{', '', '{"__proto__": {}}']) {
    const res = await instance.inject({ method: 'POST', url: '/config', payload, headers: { 'content-type': 'application/json' } });
    assert.deepEqual([res.statusCode, res.json().code], [400, 'CONFIG_REQUEST_INVALID'], payload);
  }
  const big = await instance.inject({ method: 'POST', url: '/config', payload: { ...request, clientVersion: 'x'.repeat(70_000) } });
  assert.deepEqual([big.statusCode, big.json().code], [413, 'CONFIG_REQUEST_TOO_LARGE']);
});

test('a policy that renders an invalid answer gives 500 CONFIG_RENDER_FAILED with a fixed message', async (t) => {
  const broken = structuredClone(policy);
  (broken.baseline.docker.execution.container as Record<string, unknown>).image = '';
  const lines: string[] = [];
  const res = await app(t, { policy: broken, logLines: lines }).inject({ method: 'POST', url: '/config', payload: request });
  assert.equal(res.statusCode, 500);
  assert.deepEqual(res.json(), { code: 'CONFIG_RENDER_FAILED', message: 'Your session could not be configured.' });
  assert.ok(lines.some((l) => JSON.parse(l).code === 'CONFIGSERVER_RENDER_FAILED'));
});

test('unknown routes get 404 with a code; /healthz answers ok', async (t) => {
  const instance = app(t);
  const missing = await instance.inject({ method: 'GET', url: '/config' });
  assert.deepEqual([missing.statusCode, missing.json().code], [404, 'CONFIG_ROUTE_NOT_FOUND']);
  const health = await instance.inject({ method: 'GET', url: '/healthz' });
  assert.deepEqual([health.statusCode, health.json()], [200, { status: 'ok' }]);
});

test('every log line has a code and no sensitive metadata', async (t) => {
  const lines: string[] = [];
  const instance = app(t, { logLines: lines });
  await instance.inject({ method: 'POST', url: '/config', payload: await containerSshExample('derived/authz-request.json') });
  await instance.inject({ method: 'POST', url: '/config', payload: {} });
  assert.ok(lines.length >= 2);
  for (const line of lines) {
    assert.match(String(JSON.parse(line).code), /^CONFIGSERVER_[A-Z_]+$/, line);
    assert.ok(!line.includes('ghp_exampletoken'), line);
  }
});
