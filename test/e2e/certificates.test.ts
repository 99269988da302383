import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { waitForNoSessionContainers } from '../helpers/docker.ts';
import { E2E } from '../helpers/deadlines.ts';

const run = promisify(execFile);

describe('OpenSSH user certificates: verified by the authserver against its CAs', () => {
  let world: World;
  let dir: string;
  let revokedKeyLine: string;

  /** A fresh key pair certified by `ca` with ssh-keygen's own options (-I, -n, -V, -z, -O). */
  const certify = async (name: string, ca: string, options: string[]) => {
    const key = join(dir, name);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', key]);
    await run('ssh-keygen', ['-q', '-s', join(dir, ca), ...options, `${key}.pub`]);
    return { key, cert: `${key}-cert.pub` };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-certs-'));
    for (const ca of ['ca', 'rogue-ca']) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', ca, '-f', join(dir, ca)]);
    // The key revoked by the list below is made first, so the list exists before the authserver starts.
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'revoked-key')]);
    revokedKeyLine = (await readFile(join(dir, 'revoked-key.pub'), 'utf8')).trim();
    await writeFile(join(dir, 'revoked.yaml'), stringify({ serials: [666], keys: [revokedKeyLine] }));
    world = await startWorld({
      authserver: { userCertificates: { trustedCaKeysFile: join(dir, 'ca.pub'), revocationFile: join(dir, 'revoked.yaml') } },
      // The certificate's key id is the identity /authz maps to SSH usernames.
      gateway: { auth: { authz: true } },
      identities: { 'certificate:contractor@example.org': ['guest'] },
    });
  });
  after(async () => {
    await world.stop();
    await rm(dir, { recursive: true, force: true });
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId), [], 'no session container is left');
  });

  const login = (cert: { key: string; cert: string }) =>
    runSsh({ port: world.sshPort, username: world.username, identityFile: cert.key, extraArgs: ['-o', `CertificateFile=${cert.cert}`], command: 'echo cert-ok' });

  /** The login is refused (the user sees only that) and the authserver logged `code` for it. */
  const refusedFor = async (cert: { key: string; cert: string }, code: string) => {
    const before = world.authserver.logs.filter((line) => line.code === code).length;
    const result = await login(cert);
    assert.equal(result.code, 255, result.stdout);
    assert.match(result.stderr, /Permission denied/);
    assert.equal(world.authserver.logs.filter((line) => line.code === code).length, before + 1, `authserver logged ${code}`);
  };

  test('a certificate from the trusted CA naming the user logs in; the key id reaches the session metadata', E2E, async () => {
    const cert = await certify('good', 'ca', ['-I', 'alice@example.org', '-n', `${world.username},other`, '-V', '-5m:+1h', '-z', '42']);
    const result = await login(cert);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'cert-ok\n');
    const accepted = world.authserver.logs.find((line) => line.code === 'AUTHSERVER_CERT_ACCEPTED');
    assert.equal(accepted?.keyId, 'alice@example.org');
    assert.equal(accepted?.serial, '42');
  });

  test('an expired certificate is refused (AUTHSERVER_CERT_EXPIRED)', E2E, async () => {
    await refusedFor(await certify('expired', 'ca', ['-I', 'alice', '-n', world.username, '-V', '20200101:20200102']), 'AUTHSERVER_CERT_EXPIRED');
  });

  test('a certificate not valid yet is refused (AUTHSERVER_CERT_NOT_YET_VALID)', E2E, async () => {
    await refusedFor(await certify('future', 'ca', ['-I', 'alice', '-n', world.username, '-V', '20990101:20990102']), 'AUTHSERVER_CERT_NOT_YET_VALID');
  });

  test('a certificate for other principals is refused (AUTHSERVER_CERT_PRINCIPAL_MISMATCH)', E2E, async () => {
    await refusedFor(await certify('principal', 'ca', ['-I', 'alice', '-n', 'root,admin', '-V', '-5m:+1h']), 'AUTHSERVER_CERT_PRINCIPAL_MISMATCH');
  });

  test('a revoked serial is refused (AUTHSERVER_CERT_REVOKED)', E2E, async () => {
    await refusedFor(await certify('serial', 'ca', ['-I', 'alice', '-n', world.username, '-V', '-5m:+1h', '-z', '666']), 'AUTHSERVER_CERT_REVOKED');
  });

  test('a certificate for a revoked key is refused (AUTHSERVER_CERT_REVOKED)', E2E, async () => {
    await run('ssh-keygen', ['-q', '-s', join(dir, 'ca'), '-I', 'alice', '-n', world.username, '-V', '-5m:+1h', join(dir, 'revoked-key.pub')]);
    await refusedFor({ key: join(dir, 'revoked-key'), cert: join(dir, 'revoked-key-cert.pub') }, 'AUTHSERVER_CERT_REVOKED');
  });

  test('a certificate signed by an unknown CA is refused (AUTHSERVER_CERT_CA_UNKNOWN)', E2E, async () => {
    await refusedFor(await certify('rogue', 'rogue-ca', ['-I', 'alice', '-n', world.username, '-V', '-5m:+1h']), 'AUTHSERVER_CERT_CA_UNKNOWN');
  });

  test('source-address is checked against the connection: outside it is refused, inside it logs in', E2E, async () => {
    await refusedFor(await certify('elsewhere', 'ca', ['-I', 'alice', '-n', world.username, '-V', '-5m:+1h', '-O', 'source-address=10.0.0.0/8']), 'AUTHSERVER_CERT_SOURCE_ADDRESS_DENIED');
    const here = await login(await certify('here', 'ca', ['-I', 'alice', '-n', world.username, '-V', '-5m:+1h', '-O', 'source-address=192.0.2.1,127.0.0.0/8']));
    assert.equal(here.code, 0, here.stderr);
  });

  test('force-command runs instead of what the client asked, with the request in SSH_ORIGINAL_COMMAND', E2E, async () => {
    const cert = await certify('forced', 'ca', ['-I', 'alice', '-n', world.username, '-V', '-5m:+1h', '-O', 'force-command=echo "forced: $SSH_ORIGINAL_COMMAND"']);
    const result = await login(cert);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'forced: echo cert-ok\n');
  });

  test('authz maps the certificate key id: a key id listed only for another username is refused after authentication', E2E, async () => {
    const before = world.authserver.logs.filter((line) => line.code === 'AUTHSERVER_AUTHZ_REJECTED').length;
    const result = await login(await certify('contractor', 'ca', ['-I', 'contractor@example.org', '-n', world.username, '-V', '-5m:+1h']));
    assert.equal(result.code, 255);
    assert.match(result.stderr, /Permission denied/);
    const rejected = world.authserver.logs.filter((line) => line.code === 'AUTHSERVER_AUTHZ_REJECTED');
    assert.equal(rejected.length, before + 1);
    assert.equal(rejected.at(-1)?.identity, 'certificate:contractor@example.org');
    assert.equal(rejected.at(-1)?.reason, 'identity-not-allowed');
    await world.gateway.waitForCode('AUTHZ_FAILED');
  });

  test('the certificate never appears in a log, only its key id, serial and CA fingerprint', E2E, async () => {
    const certBody = (await readFile(join(dir, 'good-cert.pub'), 'utf8')).split(' ')[1]!;
    for (const program of [world.authserver, world.configserver, world.gateway]) {
      assert.ok(!program.output.join('\n').includes(certBody.slice(0, 60)), `${program.name} does not log the certificate`);
    }
  });
});
