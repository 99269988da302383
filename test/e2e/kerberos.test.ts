import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { waitForNoSessionContainers } from '../helpers/docker.ts';
import { startKdc, type TestKdc } from '../helpers/kdc.ts';
import { runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { E2E } from '../helpers/deadlines.ts';

const run = promisify(execFile);

/**
 * klist must be in the session image (scripts/build-images.sh adds it). The build is a no-op
 * when the image is current; it rebuilds one that an older checkout built without klist.
 */
async function ensureSessionImage(): Promise<void> {
  await run('bash', ['scripts/build-images.sh'], { cwd: fileURLToPath(new URL('../../', import.meta.url)), timeout: 300_000 });
}

const PASSWORD = 'Kerberos-Pass-42';
const WRONG = 'Kerberos-Wrong-42';

/** A ccache file (format 0x0504) in base64: what a leaked ticket would look like in a log. */
const TICKET_IN_BASE64 = /BQQA[A-Za-z0-9+/]{40,}/;

describe('Kerberos: ssh with the password of a principal of a real KDC', () => {
  let kdc: TestKdc;
  let world: World;
  before(async () => {
    await ensureSessionImage();
    kdc = await startKdc();
    await kdc.addPrincipal('alice', PASSWORD);
    world = await startWorld({
      authserver: { kerberos: { configPath: kdc.krb5Conf, realm: kdc.realm, enforceUsername: true } },
      webhookTimeout: '15s',
    });
  });
  after(async () => {
    await world?.stop();
    await kdc?.stop();
    if (world) assert.deepEqual(await waitForNoSessionContainers(world.instanceId), [], 'no session container is left');
  });

  const ssh = (username: string, password: string, command: string) => runSsh({ port: world.sshPort, username, password, command });

  test('the right password logs in, and klist in the session shows the ticket at KRB5CCNAME', E2E, async () => {
    const result = await ssh('alice', PASSWORD, 'echo "cc=$KRB5CCNAME"; stat -c "mode=%a" /tmp/krb5cc; klist');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^cc=FILE:\/tmp\/krb5cc$/m);
    assert.match(result.stdout, /^mode=600$/m);
    assert.match(result.stdout, new RegExp(`Default principal: alice@${kdc.realm}`));
    assert.match(result.stdout, new RegExp(`krbtgt/${kdc.realm}@${kdc.realm}`));
    const accepted = await world.authserver.waitForCode('AUTHSERVER_KERBEROS_ACCEPTED');
    assert.equal(accepted.principal, `alice@${kdc.realm}`);
  });

  test('a wrong password is refused', E2E, async () => {
    const result = await ssh('alice', WRONG, 'true');
    assert.equal(result.code, 255);
    assert.match(result.stderr, /Permission denied/);
    await world.authserver.waitForCode('AUTHSERVER_KERBEROS_REJECTED');
  });

  test('with enforceUsername true, the principal under another SSH username is refused even with its password', E2E, async () => {
    const result = await ssh(`alice@${kdc.realm}`, PASSWORD, 'true');
    assert.equal(result.code, 255);
    assert.match(result.stderr, /Permission denied/);
    const line = await world.authserver.waitForCode('AUTHSERVER_KERBEROS_USERNAME_DOES_NOT_MATCH');
    assert.equal(line.username, `alice@${kdc.realm}`);
  });

  test('no password and no ticket ever reaches a log', E2E, () => {
    for (const program of [world.authserver, world.configserver, world.gateway]) {
      const text = program.output.join('\n');
      assert.ok(!text.includes(PASSWORD), `${program.name} logged the password`);
      assert.ok(!text.includes(WRONG), `${program.name} logged the wrong password`);
      assert.ok(!text.includes(Buffer.from(PASSWORD).toString('base64')), `${program.name} logged the password in base64`);
      assert.doesNotMatch(text, TICKET_IN_BASE64, `${program.name} logged the ticket`);
    }
  });
});

describe('Kerberos with enforceUsername false: the principal logs in under another SSH username when authz allows it', () => {
  let kdc: TestKdc;
  let world: World;
  before(async () => {
    kdc = await startKdc();
    await kdc.addPrincipal('alice', PASSWORD);
    await kdc.addPrincipal('bob', PASSWORD);
    await ensureSessionImage();
    world = await startWorld({
      authserver: { kerberos: { configPath: kdc.krb5Conf, realm: kdc.realm, enforceUsername: false } },
      // /authz decides: alice's principal may use the realm-qualified SSH username, bob's may not.
      gateway: { auth: { authz: true } },
      webhookTimeout: '15s',
      identities: { [`kerberos:alice@${kdc.realm}`]: [`alice@${kdc.realm}`] },
    });
  });
  after(async () => {
    await world?.stop();
    await kdc?.stop();
    if (world) assert.deepEqual(await waitForNoSessionContainers(world.instanceId), [], 'no session container is left');
  });

  test('ssh as alice@REALM authenticates as alice, authz allows the identity, and the ticket is there', E2E, async () => {
    const result = await runSsh({ port: world.sshPort, username: `alice@${kdc.realm}`, password: PASSWORD, command: 'klist' });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`Default principal: alice@${kdc.realm}`));
    const accepted = await world.authserver.waitForCode('AUTHSERVER_KERBEROS_ACCEPTED');
    assert.equal(accepted.authenticatedUsername, 'alice');
    assert.equal(accepted.username, `alice@${kdc.realm}`);
    const authz = await world.authserver.waitForCode('AUTHSERVER_AUTHZ_ACCEPTED');
    assert.equal(authz.identity, `kerberos:alice@${kdc.realm}`);
  });

  test('bob@REALM has the right password, but authz does not allow that identity under that name', E2E, async () => {
    const result = await runSsh({ port: world.sshPort, username: `bob@${kdc.realm}`, password: PASSWORD, command: 'true' });
    assert.equal(result.code, 255);
    assert.match(result.stderr, /Permission denied/);
    const refused = await world.authserver.waitForCode('AUTHSERVER_AUTHZ_REJECTED');
    assert.equal(refused.authenticatedUsername, 'bob');
  });
});
