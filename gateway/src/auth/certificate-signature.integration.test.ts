import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import sshpk from 'sshpk';
import { describeCertificate, verifyCertificateSignature } from './certificate-signature.ts';

const run = promisify(execFile);

test('a publickey signature counts only when made by the key the certificate certifies', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-certsig-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const name of ['ca', 'user', 'thief']) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name)]);
  await run('ssh-keygen', ['-q', '-s', join(dir, 'ca'), '-I', 'u', '-n', 'u', join(dir, 'user.pub')]);
  const [algo, data] = (await readFile(join(dir, 'user-cert.pub'), 'utf8')).trim().split(' ') as [string, string];
  const cert = Buffer.from(data, 'base64');
  const signedData = Buffer.from('session id and userauth request');
  const sign = async (name: string) => {
    const key = sshpk.parsePrivateKey(await readFile(join(dir, name)), 'ssh');
    const signer = key.createSign('sha512');
    signer.update(signedData);
    return signer.sign().toBuffer('ssh');
  };
  assert.equal(verifyCertificateSignature(algo, cert, signedData, await sign('user')), true);
  assert.equal(verifyCertificateSignature(algo, cert, signedData, await sign('thief')), false);
  assert.equal(verifyCertificateSignature(algo, cert, Buffer.from('other data'), await sign('user')), false);
  assert.equal(verifyCertificateSignature('ssh-ed25519', cert, signedData, await sign('user')), false);
  assert.equal(verifyCertificateSignature(algo, Buffer.from('garbage'), signedData, await sign('user')), false);
});

test("the caCertificate extension describes a certificate as ContainerSSH's SSH-CA branch does", async () => {
  const { containerSshExample } = await import('../../../test/helpers/reference.ts');
  const example = (await containerSshExample('derived/pubkey-request-cacertificate.UNMERGED.json')) as {
    publicKey: string;
    caCertificate: { key: string } & Record<string, unknown>;
  };
  const described = describeCertificate(Buffer.from(example.publicKey.split(' ')[1]!, 'base64'));
  // That branch ends the key with a newline (wire/README.md); the key itself is the same.
  assert.deepEqual(described, { ...example.caCertificate, key: example.caCertificate.key.trim() });
});
