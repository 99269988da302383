import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createPki, issueAuditor, issuePlayer, writeIssued } from './index.ts';

test('pki auditor and player certificates chain to the project CA; bad names and a missing CA are refused by name', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-issue-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await assert.rejects(issueAuditor(join(dir, 'none'), 'alice'), /no CA to sign with .*run "pki init --dir/);
  const paths = await createPki(join(dir, 'pki'));
  const ca = new X509Certificate(await readFile(paths.ca.cert));

  const auditor = new X509Certificate((await issueAuditor(paths.dir, 'alice')).certPem);
  assert.equal(auditor.subject.split('\n')[0], 'CN=auditor:alice');
  assert.ok(auditor.verify(ca.publicKey), 'signed by the CA');
  assert.match(auditor.toLegacyObject().ext_key_usage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.2/, 'client authentication only');
  await assert.rejects(issueAuditor(paths.dir, 'a/b'), /"a\/b": an auditor name is/);
  await assert.rejects(issueAuditor(paths.dir, 'auditor:x y'), /an auditor name is/);

  const issued = await issuePlayer(paths.dir, ['player.example.org']);
  const player = new X509Certificate(issued.certPem);
  assert.ok(player.checkHost('player.example.org'));
  assert.ok(player.checkIP('127.0.0.1'));
  await assert.rejects(issuePlayer(paths.dir, ['bad name']), /"bad name": not a host name/);
  const [, key] = await writeIssued(paths.dir, join(dir, 'out'), 'audit-player', issued);
  assert.equal((await stat(key!)).mode & 0o777, 0o600);
});
