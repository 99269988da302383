import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { fingerprintOf, isPinned } from './host-key-pin.ts';

const run = promisify(execFile);

test('fingerprints match what ssh-keygen -l prints', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-fp-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
  const blob = Buffer.from((await readFile(join(dir, 'key.pub'), 'utf8')).split(' ')[1]!, 'base64');
  const { stdout } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'key.pub')]);
  const printed = stdout.split(' ')[1]!;
  assert.equal(fingerprintOf(blob), printed);
  assert.ok(isPinned(fingerprintOf(blob), [`${printed}=`]), 'padding does not matter');
  assert.ok(!isPinned(fingerprintOf(blob), ['SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']));
});
