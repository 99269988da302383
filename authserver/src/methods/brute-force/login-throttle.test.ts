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

const limits = { addressFailures: 5, addressUserFailures: 3, windowSeconds: 600, addressBlockSeconds: 600, addressUserBackoffSeconds: 1, addressUserBackoffMaxSeconds: 8 };

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

test('N failures from one address block its passwords, even the right one; its right key still logs in; another address is unaffected', async (t) => {
  const post = app(t);
  for (let i = 0; i < 5; i += 1) assert.equal((await post('/password', password(`guess${i}`, 'wrong', '192.0.2.7:1000'))).success, false);
  const blocked = await post('/password', password('alice', 'right', '192.0.2.7:1001'));
  assert.equal(blocked.success, false);
  assert.equal(blocked.metadata?.retryAfterSeconds?.value, '600');
  assert.equal((await post('/pubkey', { username: 'alice', remoteAddress: '192.0.2.7:1002', publicKey: KEY })).success, true, 'a key is never refused for wrong passwords');
  assert.equal((await post('/password', password('alice', 'right', '192.0.2.8:1000'))).success, true);
});

test('an (address, user) pair gets a doubling backoff after its limit; the same user from another address logs in at once', async (t) => {
  const post = app(t);
  const retry = async (value: string, address: string) => {
    const answer = await post('/password', password('alice', value, address));
    return answer.success ? 'ok' : (answer.metadata?.retryAfterSeconds?.value ?? 'refused');
  };
  assert.equal(await retry('wrong', '198.51.100.1:1'), 'refused');
  assert.equal(await retry('wrong', '198.51.100.1:2'), 'refused');
  assert.equal(await retry('wrong', '198.51.100.1:3'), 'refused'); // the third failure starts a 1 s backoff
  assert.equal(await retry('right', '198.51.100.1:4'), '1', "the right password waits out the pair's backoff");
  assert.equal(await retry('right', '198.51.100.2:1'), 'ok', 'the user is not locked out from elsewhere');
  assert.equal((await post('/pubkey', { username: 'alice', remoteAddress: '198.51.100.1:5', publicKey: KEY })).success, true, 'nor from the guessing address with the key');
});

test('the pair backoff doubles with each failure after it ends, up to the maximum, and attempts during it do not renew it', async (t) => {
  t.mock.timers.enable({ apis: ['Date', 'setTimeout'], now: Date.now() });
  const throttle = new LoginThrottle({ ...limits, addressFailures: 100 });
  const seconds: number[] = [];
  for (let i = 0; i < 2; i += 1) await throttle.failed('198.51.100.9:1', 'alice');
  for (let i = 0; i < 6; i += 1) {
    seconds.push((await throttle.failed('198.51.100.9:1', 'alice'))?.retryAfterSeconds ?? 0);
    // Refused attempts while blocked are not counted (throttled() never calls failed() for them).
    assert.equal((await throttle.blocked('198.51.100.9:1', 'alice'))?.retryAfterSeconds, seconds.at(-1));
    t.mock.timers.tick(seconds.at(-1)! * 1000);
    assert.equal(await throttle.blocked('198.51.100.9:1', 'alice'), undefined, 'the block ends when it said');
  }
  assert.deepEqual(seconds, [1, 2, 4, 8, 8, 8]);
});

test("a password success clears its pair's count, never the address count", async () => {
  const throttle = new LoginThrottle(limits);
  await throttle.failed('203.0.113.1:1', 'bob');
  await throttle.failed('203.0.113.1:2', 'bob');
  await throttle.succeeded('203.0.113.1:3', 'bob');
  await throttle.failed('203.0.113.1:4', 'bob');
  await throttle.failed('203.0.113.1:5', 'bob');
  assert.equal(await throttle.blocked('203.0.113.1:6', 'bob'), undefined, 'the success cleared the pair count');
  const started = await throttle.failed('203.0.113.1:7', 'carol');
  assert.deepEqual(started, { scope: 'address', retryAfterSeconds: 600 }, 'the fifth failure from the address blocks it');
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
