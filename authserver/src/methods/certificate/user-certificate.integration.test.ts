import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { RevocationFile } from './revocation.ts';
import { UserCertificateVerifier } from './user-certificate.ts';

const run = promisify(execFile);
let dir: string;
let verifier: UserCertificateVerifier;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-cert-unit-'));
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'ca')]);
  verifier = new UserCertificateVerifier([(await readFile(join(dir, 'ca.pub'), 'utf8')).trim()], new RevocationFile(undefined));
});
after(() => rm(dir, { recursive: true, force: true }));

let serial = 0;
/** `type base64` of a fresh certificate, as the gateway sends it. */
async function certificate(options: string[]): Promise<string> {
  const name = join(dir, `k${(serial += 1)}`);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', name]);
  await run('ssh-keygen', ['-q', '-s', join(dir, 'ca'), '-I', 'alice@example.org', '-V', '-5m:+1h', ...options, `${name}.pub`]);
  return (await readFile(`${name}-cert.pub`, 'utf8')).trim().split(' ').slice(0, 2).join(' ');
}

test('a good certificate yields its key id, serial, CA and force-command', async () => {
  const check = await verifier.check(await certificate(['-n', 'alice', '-z', '7', '-O', 'force-command=/usr/bin/backup']), 'alice', '127.0.0.1:4000');
  assert.equal(check.ok, true);
  if (!check.ok) return;
  assert.equal(check.keyId, 'alice@example.org');
  assert.equal(check.serial, '7');
  assert.equal(check.forceCommand, '/usr/bin/backup');
  assert.match(check.ca, /^SHA256:/);
  assert.ok(check.extensions.includes('permit-pty'));
});

test('a certificate whose signed part was changed is refused even though it names the trusted CA key', async () => {
  const [type, data] = (await certificate(['-n', 'alice'])).split(' ') as [string, string];
  const blob = Buffer.from(data, 'base64');
  // Change one byte of the key id "alice@example.org" (signed data), keeping every length.
  const at = blob.indexOf(Buffer.from('alice@example.org'));
  blob[at] = 'm'.charCodeAt(0);
  const check = await verifier.check(`${type} ${blob.toString('base64')}`, 'alice', '127.0.0.1:4000');
  assert.deepEqual(check, { ok: false, reason: 'ca-unknown', detail: 'the CA signature does not verify' });
});

test('an empty principals list matches nobody; an unknown critical option refuses the certificate', async () => {
  const none = await verifier.check(await certificate([]), 'alice', '127.0.0.1:4000');
  assert.equal(none.ok === false && none.reason, 'principal-mismatch');
  const odd = await verifier.check(await certificate(['-n', 'alice', '-O', 'verify-required']), 'alice', '127.0.0.1:4000');
  assert.equal(odd.ok === false && odd.reason, 'critical-option-unsupported');
});

test('source-address matches IPv4 and IPv6 connections; a malformed list allows nobody', async () => {
  const v6 = await certificate(['-n', 'alice', '-O', 'source-address=::1/128,10.1.0.0/16']);
  assert.equal((await verifier.check(v6, 'alice', '[::1]:5000')).ok, true);
  assert.equal((await verifier.check(v6, 'alice', '10.1.2.3:5000')).ok, true);
  assert.equal((await verifier.check(v6, 'alice', '10.2.0.1:5000')).ok, false);
});

test('the revocation list is re-read when it changes', async () => {
  const file = join(dir, 'revoked.yaml');
  await writeFile(file, 'serials: []\n');
  const withList = new UserCertificateVerifier([(await readFile(join(dir, 'ca.pub'), 'utf8')).trim()], new RevocationFile(file));
  const cert = await certificate(['-n', 'alice', '-z', '99']);
  assert.equal((await withList.check(cert, 'alice', '127.0.0.1:1')).ok, true);
  await writeFile(file, 'serials: [99]\nkeyIds: []\n');
  const check = await withList.check(cert, 'alice', '127.0.0.1:1');
  assert.equal(check.ok === false && check.reason, 'revoked');
  await writeFile(file, 'serials: [not-a-number]\n');
  await assert.rejects(withList.check(cert, 'alice', '127.0.0.1:1'), /RevocationListError|serials/);
});
