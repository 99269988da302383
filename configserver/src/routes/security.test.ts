import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigResponseSchema } from '@portcullis/wire';
import { buildApp } from '../app.ts';
import { repoPolicy } from '../testing/policy.ts';

const request = (username: string, metadata: Record<string, string> = {}) => ({
  username,
  authenticatedUsername: username,
  remoteAddress: '192.0.2.10:51234',
  connectionId: '3f2504e04f8911d39a0c0305e82c3301',
  metadata: Object.fromEntries(Object.entries(metadata).map(([name, value]) => [name, { value, sensitive: false }])),
});

async function configFor(t: { after: (fn: () => Promise<unknown>) => void }, body: ReturnType<typeof request>) {
  const app = buildApp({ policy: await repoPolicy() });
  t.after(() => app.close());
  const res = await app.inject({ method: 'POST', url: '/config', payload: body });
  assert.equal(res.statusCode, 200);
  return ConfigResponseSchema.parse(res.json()).config;
}

test('the policy security filters and session limits reach the gateway as config.security', async (t) => {
  const contractor = await configFor(t, request('contractor-ann'));
  assert.equal(contractor.security?.maxSessions, 2);
  assert.deepEqual(contractor.security?.session, { idleTimeout: '15m', maxDuration: '8h' });
  for (const mode of Object.values(contractor.security?.forwarding ?? {})) assert.equal(mode, 'disable');
  assert.equal(Object.keys(contractor.security?.forwarding ?? {}).length, 6, 'every forwarding kind is named');
  const nobody = await configFor(t, request('nobody'));
  assert.deepEqual(nobody.security, { session: { idleTimeout: '30m', maxDuration: '12h' } }, 'the baseline sets only time limits: the gateway keeps its other defaults');
});

test("a certificate's force-command replaces the command whatever the policy says", async (t) => {
  const forced = await configFor(t, request('contractor-ann', { forceCommand: '/usr/bin/backup --run' }));
  assert.equal(forced.security?.forceCommand, '/usr/bin/backup --run');
  assert.equal(forced.security?.maxSessions, 2, 'the policy filters stay');
  const plain = await configFor(t, request('contractor-ann'));
  assert.equal(plain.security?.forceCommand, undefined, 'the cached answer of the next user is untouched');
});
