import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { waitForNoSessionContainers } from '../helpers/docker.ts';
import { E2E } from '../helpers/deadlines.ts';

/** The loopback /8 is all local: `ssh -b` makes each its own source address. */
const from = (address: string) => ['-b', address];

describe('brute-force protection across connections, with the real OpenSSH client', () => {
  let world: World;
  let keyDir: string;
  before(async () => {
    keyDir = await mkdtemp(join(tmpdir(), 'portcullis-keys-'));
    await promisify(execFile)('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'id_ed25519')]);
    world = await startWorld({
      authorizedKeys: [(await readFile(join(keyDir, 'id_ed25519.pub'), 'utf8')).trim()],
      authserver: { bruteForce: { addressFailures: 50, addressUserFailures: 5, addressUserBackoff: '30s', addressUserBackoffMax: '60s' } },
      // The authserver's throttle is under test: the gateway's own per-source penalties
      // (test/e2e/pre-auth-flood.test.ts) would refuse these clients before it sees them.
      gateway: { ssh: { perSourcePenalties: { enabled: false } } },
      // Five argon2 checks at once on a shared machine can take longer than the default 5 s.
      webhookTimeout: '30s',
    });
  });
  after(async () => {
    await rm(keyDir, { recursive: true, force: true });
    await world.stop();
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId), [], 'no session container is left');
  });

  const ssh = (username: string, password: string, address: string) => runSsh({ port: world.sshPort, username, password, command: 'echo in', extraArgs: from(address) });

  test('22 wrong passwords for one user from 127.0.0.2 in a burst: the right key logs in at once, even from there; the right password from 127.0.0.1', E2E, async () => {
    const started = performance.now();
    const burst = await Promise.all(Array.from({ length: 22 }, (_, i) => ssh(world.username, `not-the-password-${i}`, '127.0.0.2')));
    const burstSeconds = (performance.now() - started) / 1000;
    for (const result of burst) assert.equal(result.code, 255);
    console.log(`22 wrong passwords from 127.0.0.2 took ${burstSeconds.toFixed(1)} s`);
    const block = world.authserver.logs.find((line) => line.code === 'AUTHSERVER_LOGIN_BLOCK_STARTED' && String(line.remoteAddress).startsWith('127.0.0.2:'));
    assert.equal(block?.scope, 'address-user', 'the guessing pair is slowed down');

    const guessed = await ssh(world.username, world.password, '127.0.0.2');
    assert.equal(guessed.code, 255, 'the right password waits out the pair backoff at the guessing address');
    const throttled = world.authserver.logs.filter((line) => line.code === 'AUTHSERVER_LOGIN_THROTTLED').at(-1);
    assert.equal(throttled?.scope, 'address-user');
    assert.ok(Number(throttled?.retryAfterSeconds) > 0 && Number(throttled?.retryAfterSeconds) <= 60, 'the operator sees when it ends, within the configured maximum');

    const keyed = await runSsh({ port: world.sshPort, username: world.username, identityFile: join(keyDir, 'id_ed25519'), command: 'echo key-in', extraArgs: from('127.0.0.2') });
    assert.equal(keyed.code, 0, keyed.stderr);
    assert.equal(keyed.stdout, 'key-in\n');
    const elsewhere = await ssh(world.username, world.password, '127.0.0.1');
    assert.equal(elsewhere.code, 0, elsewhere.stderr);
    assert.equal(elsewhere.stdout, 'in\n');
  });

  test('50 wrong passwords from 127.0.0.3 lock that address out, even with the right password; 127.0.0.1 still logs in', E2E, async () => {
    // A password spray: many names, one address, so only the address limit applies.
    // Five clients at a time, as an attacker would; each is refused.
    for (let batch = 0; batch < 10; batch += 1) {
      const attempts = Array.from({ length: 5 }, (_, i) => batch * 5 + i);
      const results = await Promise.all(attempts.map((attempt) => ssh(`spray${attempt}`, `wrong-${attempt}`, '127.0.0.3')));
      for (const [i, result] of results.entries()) assert.equal(result.code, 255, `attempt ${attempts[i]} is refused`);
    }
    const fromSpray = (code: string) => world.authserver.logs.filter((line) => line.code === code && String(line.remoteAddress).startsWith('127.0.0.3:'));
    assert.equal(fromSpray('AUTHSERVER_PASSWORD_REJECTED').length, 50);
    assert.equal(fromSpray('AUTHSERVER_LOGIN_BLOCK_STARTED').at(-1)?.scope, 'address');

    const locked = await ssh(world.username, world.password, '127.0.0.3');
    assert.equal(locked.code, 255, 'the right password is refused from the blocked address');
    assert.match(locked.stderr, /Permission denied/);
    const throttled = world.authserver.logs.filter((line) => line.code === 'AUTHSERVER_LOGIN_THROTTLED').at(-1);
    assert.equal(throttled?.scope, 'address');
    assert.equal(throttled?.username, world.username);

    const elsewhere = await ssh(world.username, world.password, '127.0.0.1');
    assert.equal(elsewhere.code, 0, elsewhere.stderr);
    assert.equal(elsewhere.stdout, 'in\n');
  });

  test('no password ever reaches a log of the three programs', E2E, () => {
    for (const program of [world.authserver, world.configserver, world.gateway]) {
      const output = program.output.join('\n');
      assert.ok(!output.includes(world.password), `${program.name} never logs the password`);
      assert.ok(!output.includes('not-the-password') && !output.includes('wrong-17'), `${program.name} never logs a wrong password`);
    }
  });
});
