import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { auditCli } from '../helpers/audit.ts';
import { E2E } from '../helpers/deadlines.ts';

test('the audit CLI says clearly what is wrong, with exit 2 for usage and 1 for a failed command', E2E, async (t) => {
  const unknown = await auditCli(['frobnicate', '/tmp']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^portcullis audit: unknown command "frobnicate"\nusage:/);
  const missing = await auditCli(['verify', '/nonexistent/recording']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'portcullis audit: /nonexistent/recording: no such file or directory\n');
  const unreachable = await auditCli(['verify', 's3://recordings/20261123T000000Z-0123456789abcdef0123456789abcdef', '--endpoint', 'http://127.0.0.1:9']);
  assert.equal(unreachable.code, 1);
  assert.equal(unreachable.stderr, 'portcullis audit: no S3 credentials: pass --credentials FILE or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n');
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'credentials.json'), JSON.stringify({ accessKeyId: 'id', secretAccessKey: 'never-printed' }));
  const refused = await auditCli(['verify', 's3://recordings/20261123T000000Z-0123456789abcdef0123456789abcdef', '--endpoint', 'http://127.0.0.1:9', '--credentials', join(dir, 'credentials.json')]);
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr, 'portcullis audit: the S3 endpoint refused the connection\n');
  assert.doesNotMatch(unreachable.stderr, /\n\s+at /, 'no stack trace');
  const help = await auditCli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /list .*decode .*play .*verify/s);
});

test('audit list refuses a bad --since or --after by name, and prints the columns even when there is nothing', E2E, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const since = await auditCli(['list', dir, '--since', 'yesterday']);
  assert.equal(since.code, 2);
  assert.match(since.stderr, /^portcullis audit: --since takes an ISO 8601 time \(2026-12-06T18:00Z\) or an age \(30m, 2h, 7d\)\n/);
  const after = await auditCli(['list', dir, '--after', '../etc']);
  assert.equal(after.code, 2);
  assert.match(after.stderr, /--after takes a recording id/);
  const empty = await auditCli(['list', dir, '--user', 'alice', '--since', '2h']);
  assert.equal(empty.code, 0, empty.stderr);
  assert.equal(empty.stdout, 'ID  USER  ADDRESS  START  DURATION  IN  OUT  EXIT  STATE\n');
  assert.equal((await auditCli(['list', dir, '--json'])).stdout, '');
  const unnamed = await auditCli(['list']);
  assert.equal(unnamed.code, 2);
  assert.match(unnamed.stderr, /list needs a recording id, file, folder or s3:\/\/ URL/);
});
