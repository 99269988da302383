import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import { createLogger } from './logger.ts';
import { containerSshExample } from '../../test/helpers/reference.ts';
import { hashPassword, parseUsersFile, UserDirectory } from './users-file.ts';

// alice's password and key are the ones in the derived ContainerSSH examples.
const ALICE_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFSFVNas2nxkr4D13alvWTxmRB39dAklyBnb/wxsjFzn';
const OTHER_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHOWlxSNnUZhaQ7in8joPCyJn/Ok7X5SfkxhmbxbEtG1';
const base = { remoteAddress: '192.0.2.10:51234', connectionId: '3f2504e04f8911d39a0c0305e82c3301' };
const b64 = (s: string) => Buffer.from(s).toString('base64');

let users: UserDirectory;
before(async () => {
  const yaml = `users:
  alice:
    passwordHash: "${await hashPassword('password')}"
    authorizedKeys: ["${ALICE_KEY} alice@laptop"]
  keyonly:
    authorizedKeys: ["${OTHER_KEY}"]
`;
  users = await UserDirectory.create(parseUsersFile(yaml));
});

function app(t: { after: (fn: () => Promise<unknown>) => void }, logLines?: string[]): FastifyInstance {
  const logger = logLines ? createLogger('debug', new Writable({ write: (chunk, _enc, done) => (logLines.push(String(chunk)), done()) })) : undefined;
  const instance = buildApp({ users, ...(logger ? { logger } : {}) });
  t.after(() => instance.close());
  return instance;
}

async function post(instance: FastifyInstance, url: string, payload: unknown) {
  const res = await instance.inject({ method: 'POST', url, payload: payload as object });
  return { status: res.statusCode, body: res.json() as Record<string, unknown>, type: res.headers['content-type'] };
}

test('/password: the reference ContainerSSH request with the right password succeeds', async (t) => {
  const res = await post(app(t), '/password', await containerSshExample('derived/password-request.json'));
  assert.equal(res.status, 200);
  assert.match(String(res.type), /^application\/json/);
  assert.deepEqual(res.body, { success: true, authenticatedUsername: 'alice' });
});

test('/password: wrong password, unknown user and key-only user get 200 success false', async (t) => {
  const instance = app(t);
  for (const [username, password] of [
    ['alice', 'wrong'],
    ['mallory', 'password'],
    ['keyonly', 'password'],
    ['__proto__', 'password'],
  ] as const) {
    const res = await post(instance, '/password', { ...base, username, passwordBase64: b64(password) });
    assert.equal(res.status, 200, username);
    assert.deepEqual(res.body, { success: false }, username);
  }
});

test('/pubkey: an authorized key succeeds whatever its comment; others fail', async (t) => {
  const instance = app(t);
  const ok = await post(instance, '/pubkey', await containerSshExample('derived/pubkey-request.json'));
  assert.deepEqual(ok.body, { success: true, authenticatedUsername: 'alice' });
  assert.deepEqual((await post(instance, '/pubkey', { ...base, username: 'alice', publicKey: OTHER_KEY })).body, {
    success: false,
  });
  assert.deepEqual((await post(instance, '/pubkey', { ...base, username: 'nobody', publicKey: ALICE_KEY })).body, {
    success: false,
  });
  assert.deepEqual((await post(instance, '/pubkey', { ...base, username: 'keyonly', publicKey: OTHER_KEY })).body, {
    success: true,
    authenticatedUsername: 'keyonly',
  });
});

test('/authz: a user may be only themselves, and the name is echoed', async (t) => {
  const instance = app(t);
  const ok = await post(instance, '/authz', await containerSshExample('derived/authz-request.json'));
  assert.deepEqual(ok.body, { success: true, authenticatedUsername: 'alice' });
  const no = await post(instance, '/authz', { ...base, username: 'root', authenticatedUsername: 'alice' });
  assert.equal(no.status, 200);
  assert.deepEqual(no.body, { success: false });
});

test('malformed bodies get 400 with a stable code naming the field', async (t) => {
  const instance = app(t);
  const cases: Array<[string, unknown, RegExp]> = [
    ['/password', { ...base, username: 'alice' }, /passwordBase64/],
    ['/password', { ...base, username: 'alice', passwordBase64: 'not base64!' }, /passwordBase64/],
    ['/password', { ...base, passwordBase64: b64('x') }, /username/],
    ['/password', [1, 2], /body/],
    ['/pubkey', { ...base, username: 'alice', publicKey: `${ALICE_KEY} comment` }, /publicKey/],
    ['/authz', { ...base, username: 'alice' }, /authenticatedUsername/],
    ['/authz', { ...base, username: 'alice', authenticatedUsername: 'alice', metadata: { k: { value: 1 } } }, /metadata\.k\.value/],
  ];
  for (const [url, payload, field] of cases) {
    const res = await post(instance, url, payload);
    assert.equal(res.status, 400, `${url} ${JSON.stringify(payload)}`);
    assert.equal(res.body.code, 'AUTH_REQUEST_INVALID');
    assert.match(String(res.body.message), field);
    assert.deepEqual(Object.keys(res.body).sort(), ['code', 'message']);
  }
});

test('bodies that are not JSON objects get 4xx with a code, never 5xx', async (t) => {
  const instance = app(t);
  const send = (payload: string, contentType = 'application/json') => instance.inject({ method: 'POST', url: '/password', payload, headers: { 'content-type': contentType } });

  for (const payload of ['{', '', 'null', '{"__proto__": {"x": 1}}']) {
    const res = await send(payload);
    assert.equal(res.statusCode, 400, payload);
    assert.equal(res.json().code, 'AUTH_REQUEST_INVALID', payload);
  }
  // Fastify parses text/plain as a string, which the schema then refuses.
  const text = await send('hello', 'text/plain');
  assert.deepEqual([text.statusCode, text.json().code], [400, 'AUTH_REQUEST_INVALID']);
  const xml = await send('<x/>', 'application/xml');
  assert.deepEqual([xml.statusCode, xml.json().code], [415, 'AUTH_MEDIA_TYPE_UNSUPPORTED']);
  const big = await send(JSON.stringify({ ...base, username: 'a', passwordBase64: b64('x'.repeat(70_000)) }));
  assert.deepEqual([big.statusCode, big.json().code], [413, 'AUTH_REQUEST_TOO_LARGE']);
});

test('unknown routes get 404 with a code; /healthz answers ok', async (t) => {
  const instance = app(t);
  const missing = await instance.inject({ method: 'GET', url: '/nope' });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().code, 'AUTH_ROUTE_NOT_FOUND');
  const health = await instance.inject({ method: 'GET', url: '/healthz' });
  assert.deepEqual([health.statusCode, health.json()], [200, { status: 'ok' }]);
});

test('logs carry a code on every line and never the password', async (t) => {
  const lines: string[] = [];
  const instance = app(t, lines);
  const secret = 'hunter2-very-secret';
  await post(instance, '/password', { ...base, username: 'alice', passwordBase64: b64(secret) });
  await post(instance, '/password', { ...base, username: 'alice', passwordBase64: `bad!${b64(secret)}` });
  await instance.inject({ method: 'GET', url: '/nope' });
  assert.ok(lines.length >= 3);
  for (const line of lines) {
    const entry = JSON.parse(line) as Record<string, unknown>;
    assert.match(String(entry.code), /^AUTHSERVER_[A-Z_]+$/, line);
    assert.ok(!line.includes(secret) && !line.includes(b64(secret)), line);
  }
  assert.ok(lines.some((l) => JSON.parse(l).code === 'AUTHSERVER_PASSWORD_REJECTED'));
});
