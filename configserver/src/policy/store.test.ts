import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { buildApp } from '../app.ts';
import { createLogger } from '../logger.ts';
import { startOpsListeners } from '@portcullis/kit';
import { REPO_POLICY_DIR } from '../testing/policy.ts';
import { loadPolicy } from './lint.ts';
import { policyHealthCheck, PolicyStore } from './store.ts';

const request = { username: 'alice', authenticatedUsername: 'alice', remoteAddress: '192.0.2.10:1', connectionId: 'c1' };

test('a bad reload keeps the last good set serving; /healthz warns with 200 and clears once the folder loads again', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-store-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await cp(REPO_POLICY_DIR, dir, { recursive: true });
  const policy = await loadPolicy(dir);
  const store = new PolicyStore(policy, createLogger('silent'));
  const app = buildApp({ policy, store });
  t.after(() => app.close());
  const ops = await startOpsListeners({ health: { host: '127.0.0.1', port: 0 }, registry: new Registry(), checks: [policyHealthCheck(store)], notFoundCode: 'X' });
  t.after(() => ops.close());
  const health = async () => {
    const res = await fetch(`http://127.0.0.1:${ops.listening[0]!.port}/healthz`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  const before = (await app.inject({ method: 'POST', url: '/config', payload: request })).json();
  // Two kinds of bad set: a syntax error, and one that parses but breaks a guardrail.
  const baseline = join(dir, 'baseline.yaml');
  const good = await readFile(baseline, 'utf8');
  await appendFile(baseline, '\n  this is: [not valid\n');
  assert.equal(await store.reload(), false);
  assert.equal(store.current(), policy, 'the last good set stays in service');
  assert.match(store.lastReloadError ?? '', /baseline\.yaml/);
  const warned = await health();
  assert.equal(warned.status, 200, 'a probe keeps the replica ready');
  assert.deepEqual(warned.body.warnings, ['policy']);
  assert.deepEqual(warned.body.failing, []);
  const during = await app.inject({ method: 'POST', url: '/config', payload: request });
  assert.equal(during.statusCode, 200);
  assert.deepEqual(during.json(), before, 'the same answer as before the bad edit');

  await writeFile(baseline, good);
  await writeFile(join(dir, 'profiles', 'zz-root.yaml'), 'match: { users: [alice] }\noverlay: { docker: { user: "0:0" } }\n');
  assert.equal(await store.reload(), false, 'a set that breaks a guardrail never loads either');
  assert.equal(store.current(), policy);
  assert.match(store.lastReloadError ?? '', /zz-root\.yaml/);
  assert.equal((await app.inject({ method: 'POST', url: '/config', payload: request })).statusCode, 200);

  await rm(join(dir, 'profiles', 'zz-root.yaml'));
  assert.equal(await store.reload(), true);
  assert.equal(store.lastReloadError, undefined);
  // The health answer is cached two seconds; the check itself says ok at once.
  assert.equal(await policyHealthCheck(store).check(), undefined);
});
