import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { buildApp } from '../app.ts';
import { parseUsersFile, UserDirectory } from '../users-file.ts';

let users: UserDirectory;
before(async () => {
  users = await UserDirectory.create(
    parseUsersFile(`users:
  alice: {}
identities:
  "certificate:ops@example.org": [deploy, backup]
  "oidc:https://idp.example.org#248289761001": [alice]
  "kerberos:alice@EXAMPLE.ORG": [alice, deploy]
`),
  );
});

const base = { remoteAddress: '127.0.0.1:5000', connectionId: 'c'.repeat(32) };
const identity = (value: string) => ({ metadata: { identity: { value, sensitive: false } } });

async function authz(t: { after: (fn: () => Promise<unknown>) => void }, body: object) {
  const app = buildApp({ users });
  t.after(() => app.close());
  const res = await app.inject({ method: 'POST', url: '/authz', payload: body });
  assert.equal(res.statusCode, 200, res.body);
  return res.json() as { success: boolean; authenticatedUsername?: string };
}

test('a mapped identity may log in as each listed username, and as no other', async (t) => {
  for (const [id, username, allowed] of [
    ['certificate:ops@example.org', 'deploy', true],
    ['certificate:ops@example.org', 'backup', true],
    ['certificate:ops@example.org', 'alice', false],
    ['oidc:https://idp.example.org#248289761001', 'alice', true],
    ['oidc:https://idp.example.org#248289761001', 'deploy', false],
    ['kerberos:alice@EXAMPLE.ORG', 'deploy', true],
    ['kerberos:alice@EXAMPLE.ORG', 'root', false],
  ] as const) {
    const answer = await authz(t, { ...base, username, authenticatedUsername: id.split(':').slice(1).join(':'), ...identity(id) });
    assert.equal(answer.success, allowed, `${id} as ${username}`);
    if (allowed) assert.equal(answer.authenticatedUsername, username);
  }
});

test('an identity the file does not list may be only itself', async (t) => {
  assert.equal((await authz(t, { ...base, username: 'bob', authenticatedUsername: 'bob', ...identity('certificate:bob-laptop') })).success, true);
  assert.equal((await authz(t, { ...base, username: 'root', authenticatedUsername: 'bob', ...identity('oidc:https://x#1') })).success, false);
  assert.equal((await authz(t, { ...base, username: 'bob', authenticatedUsername: 'bob' })).success, true);
});

test('the identities map is checked at load', () => {
  assert.throws(() => parseUsersFile('users: {}\nidentities: { "no-kind": [a] }', 'u.yaml'), /identities\.no-kind/);
  assert.throws(() => parseUsersFile('users: {}\nidentities: { "oidc:x": [] }', 'u.yaml'), /identities/);
});
