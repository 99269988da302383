import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { waitForNoSessionContainers } from '../helpers/docker.ts';

/** The loopback /8 is all local: `ssh -b` makes each its own source address. */
const from = (address: string) => ['-b', address];

describe('brute-force protection across connections, with the real OpenSSH client', () => {
  let world: World;
  before(async () => {
    world = await startWorld({
      authserver: { bruteForce: { addressFailures: 50, usernameFailures: 5, usernameBackoff: '30s' } },
      // The authserver's throttle is under test: the gateway's own per-source penalties
      // (test/e2e/pre-auth-flood.test.ts) would refuse these clients before it sees them.
      gateway: { ssh: { perSourcePenalties: { enabled: false } } },
      // Five argon2 checks at once on a shared machine can take longer than the default 5 s.
      webhookTimeout: '30s',
    });
  });
  after(async () => {
    await world.stop();
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId), [], 'no session container is left');
  });

  const ssh = (username: string, password: string, address: string) =>
    runSsh({ port: world.sshPort, username, password, command: 'echo in', extraArgs: from(address) });

  test('50 wrong passwords from 127.0.0.2 lock that address out, even with the right password; 127.0.0.1 still logs in', async () => {
    // A password spray: many names, one address, so only the address limit applies.
    // Five clients at a time, as an attacker would; each is refused.
    for (let batch = 0; batch < 10; batch += 1) {
      const attempts = Array.from({ length: 5 }, (_, i) => batch * 5 + i);
      const results = await Promise.all(attempts.map((attempt) => ssh(`spray${attempt}`, `wrong-${attempt}`, '127.0.0.2')));
      for (const [i, result] of results.entries()) assert.equal(result.code, 255, `attempt ${attempts[i]} is refused`);
    }
    assert.equal(world.authserver.logs.filter((line) => line.code === 'AUTHSERVER_PASSWORD_REJECTED').length, 50);
    const started = world.authserver.logs.find((line) => line.code === 'AUTHSERVER_LOGIN_BLOCK_STARTED');
    assert.equal(started?.scope, 'address');
    assert.match(String(started?.remoteAddress), /^127\.0\.0\.2:/);

    const locked = await ssh(world.username, world.password, '127.0.0.2');
    assert.equal(locked.code, 255, 'the right password is refused from the blocked address');
    assert.match(locked.stderr, /Permission denied/);
    const throttled = world.authserver.logs.filter((line) => line.code === 'AUTHSERVER_LOGIN_THROTTLED').at(-1);
    assert.equal(throttled?.scope, 'address');
    assert.equal(throttled?.username, world.username);

    const elsewhere = await ssh(world.username, world.password, '127.0.0.1');
    assert.equal(elsewhere.code, 0, elsewhere.stderr);
    assert.equal(elsewhere.stdout, 'in\n');
  });

  test('five wrong passwords for one user from different addresses start a backoff for that user, wherever the next try comes from', async () => {
    const addresses = ['127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14', '127.0.0.15'];
    for (const address of addresses) assert.equal((await ssh(world.username, 'not-the-password', address)).code, 255);
    const refused = await ssh(world.username, world.password, '127.0.0.16');
    assert.equal(refused.code, 255, 'the right password waits out the backoff');
    const throttled = world.authserver.logs.filter((line) => line.code === 'AUTHSERVER_LOGIN_THROTTLED').at(-1);
    assert.equal(throttled?.scope, 'username');
    assert.ok(Number(throttled?.retryAfterSeconds) > 0);
  });

  test('no password ever reaches a log of the three programs', () => {
    for (const program of [world.authserver, world.configserver, world.gateway]) {
      const output = program.output.join('\n');
      assert.ok(!output.includes(world.password), `${program.name} never logs the password`);
      assert.ok(!output.includes('not-the-password') && !output.includes('wrong-17'), `${program.name} never logs a wrong password`);
    }
  });
});
