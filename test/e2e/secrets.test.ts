import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { E2E } from '../helpers/deadlines.ts';

/**
 * Every credential a user typed or held, in every form it travels (plain, base64), must be
 * absent from every log line of the three programs and every metric they export, whether the
 * login succeeded or failed. Logs run at `debug`, the most talkative level.
 */
describe('no password or private key reaches any log line or metric', () => {
  let world: World;
  let keyDir: string;
  const ops = { metrics: { listen: '127.0.0.1:0' }, health: { listen: '127.0.0.1:0' } };
  before(async () => {
    keyDir = await mkdtemp(join(tmpdir(), 'portcullis-secrets-'));
    await promisify(execFile)('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'id_ed25519')]);
    await promisify(execFile)('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'other')]);
    const publicKey = (await readFile(join(keyDir, 'id_ed25519.pub'), 'utf8')).trim();
    world = await startWorld({ authorizedKeys: [publicKey], logLevel: 'debug', gateway: ops, authserver: ops, configserver: ops });
  });
  after(async () => {
    await world.stop();
    await rm(keyDir, { recursive: true, force: true });
  });

  test('password and public-key logins, good and bad: zero hits in logs and metrics', E2E, async (t) => {
    const wrongPassword = `${world.password}-Wr0ng`;
    const good = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'true' });
    assert.equal(good.code, 0, good.stderr);
    const bad = await runSsh({ port: world.sshPort, username: world.username, password: wrongPassword, command: 'true' });
    assert.equal(bad.code, 255);
    const keyed = await runSsh({ port: world.sshPort, username: world.username, identityFile: join(keyDir, 'id_ed25519'), command: 'true' });
    assert.equal(keyed.code, 0, keyed.stderr);
    const badKey = await runSsh({ port: world.sshPort, username: world.username, identityFile: join(keyDir, 'other'), command: 'true' });
    assert.equal(badKey.code, 255);

    // The private keys' base64 bodies, without the first lines (they carry the public key, which is no secret).
    const privateLines = async (file: string) =>
      (await readFile(join(keyDir, file), 'utf8'))
        .split('\n')
        .filter((line) => /^[A-Za-z0-9+/=]{20,}$/.test(line))
        .slice(2);
    const secrets = [
      world.password,
      wrongPassword,
      Buffer.from(world.password).toString('base64'),
      Buffer.from(wrongPassword).toString('base64'),
      ...(await privateLines('id_ed25519')),
      ...(await privateLines('other')),
    ];
    assert.ok(secrets.length >= 6);

    const metrics: string[] = [];
    for (const [program, code] of [
      [world.gateway, 'GATEWAY_OPS_LISTENING'],
      [world.authserver, 'AUTHSERVER_OPS_LISTENING'],
      [world.configserver, 'CONFIGSERVER_OPS_LISTENING'],
    ] as const) {
      const port = Number((await program.waitForCode(code)).port);
      metrics.push(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      metrics.push(await (await fetch(`http://127.0.0.1:${port}/healthz`)).text());
    }
    const logs = [...world.gateway.output, ...world.authserver.output, ...world.configserver.output];
    assert.ok(logs.length > 20 && logs.some((line) => line.includes('AUTHSERVER_PASSWORD_REJECTED')), 'the logs did record the logins');
    let hits = 0;
    for (const secret of secrets) {
      for (const line of [...logs, ...metrics]) if (line.includes(secret)) hits += 1;
    }
    t.diagnostic(`${secrets.length} secrets × ${logs.length} log lines and ${metrics.length} metric/health pages: ${hits} hits`);
    assert.equal(hits, 0);
  });
});
