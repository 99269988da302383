import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { buildApp } from '../../app.ts';
import { hashPassword, parseUsersFile, UserDirectory } from '../../users-file.ts';
import { addressOf, LoginThrottle, throttleKeyOf } from './login-throttle.ts';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFSFVNas2nxkr4D13alvWTxmRB39dAklyBnb/wxsjFzn';
let users: UserDirectory;
before(async () => {
  users = await UserDirectory.create(parseUsersFile(`users: { alice: { passwordHash: "${await hashPassword('right')}", authorizedKeys: ["${KEY}"] } }`));
});

const limits = { addressFailures: 5, usernameFailures: 3, windowSeconds: 600, addressBlockSeconds: 600, usernameBackoffSeconds: 1, usernameBackoffMaxSeconds: 8 };

function app(t: { after: (fn: () => Promise<unknown>) => void }) {
  const instance = buildApp({ users, throttle: new LoginThrottle(limits) });
  t.after(() => instance.close());
  return async (url: string, body: object) => {
    const res = await instance.inject({ method: 'POST', url, payload: { connectionId: 'c'.repeat(32), ...body } });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { success: boolean; metadata?: Record<string, { value: string }> };
  };
}
const password = (username: string, value: string, remoteAddress: string) => ({ username, remoteAddress, passwordBase64: Buffer.from(value).toString('base64') });

test('N failures from one address block it, even for the right password; another address is unaffected', async (t) => {
  const post = app(t);
  for (let i = 0; i < 5; i += 1) assert.equal((await post('/password', password(`guess${i}`, 'wrong', '192.0.2.7:1000'))).success, false);
  const blocked = await post('/password', password('alice', 'right', '192.0.2.7:1001'));
  assert.equal(blocked.success, false);
  assert.equal(blocked.metadata?.retryAfterSeconds?.value, '600');
  assert.equal((await post('/pubkey', { username: 'alice', remoteAddress: '192.0.2.7:1002', publicKey: KEY })).success, false);
  assert.equal((await post('/password', password('alice', 'right', '192.0.2.8:1000'))).success, true);
});

test('a username gets a doubling backoff after its limit, from any address; the right password is refused meanwhile', async (t) => {
  const post = app(t);
  const retry = async (value: string, address: string) => {
    const answer = await post('/password', password('alice', value, address));
    return answer.success ? 'ok' : (answer.metadata?.retryAfterSeconds?.value ?? 'refused');
  };
  assert.equal(await retry('wrong', '198.51.100.1:1'), 'refused');
  assert.equal(await retry('wrong', '198.51.100.2:1'), 'refused');
  assert.equal(await retry('wrong', '198.51.100.3:1'), 'refused'); // the third failure starts a 1 s backoff
  assert.equal(await retry('right', '198.51.100.4:1'), '1');
  assert.equal(await retry('right', '198.51.100.5:1'), '2');
  assert.equal(await retry('right', '198.51.100.6:1'), '4');
  assert.equal(await retry('right', '198.51.100.7:1'), '8');
  assert.equal(await retry('right', '198.51.100.8:1'), '8', 'capped at the maximum');
});

test('a public key "yes" does not reset a username count; a password success does', async (t) => {
  const throttle = new LoginThrottle(limits);
  await throttle.failed('203.0.113.1:1', 'bob');
  await throttle.failed('203.0.113.2:1', 'bob');
  await throttle.succeeded('bob');
  await throttle.failed('203.0.113.3:1', 'bob');
  await throttle.failed('203.0.113.4:1', 'bob');
  assert.equal(await throttle.blocked('203.0.113.5:1', 'bob'), undefined, 'the success cleared the count');
  const post = app(t);
  for (let i = 0; i < 2; i += 1) await post('/password', password('alice', 'wrong', `203.0.113.${10 + i}:1`));
  assert.equal((await post('/pubkey', { username: 'alice', remoteAddress: '203.0.113.20:1', publicKey: KEY })).success, true);
  await post('/password', password('alice', 'wrong', '203.0.113.21:1'));
  assert.equal((await post('/password', password('alice', 'right', '203.0.113.22:1'))).success, false, 'still in backoff');
});

test('addresses are counted without their port', () => {
  assert.equal(addressOf('127.0.0.2:51234'), '127.0.0.2');
  assert.equal(addressOf('[::1]:22'), '::1');
});

test('IPv6 addresses are counted per /64, IPv4 per address', () => {
  assert.equal(throttleKeyOf('[2001:db8:0:1::5]:22'), '2001:db8:0:1::/64');
  assert.equal(throttleKeyOf('[2001:db8:0:1:ffff:1:2:3]:22'), '2001:db8:0:1::/64');
  assert.equal(throttleKeyOf('[::1]:22'), '0:0:0:0::/64');
  assert.equal(throttleKeyOf('127.0.0.2:22'), '127.0.0.2');
});
