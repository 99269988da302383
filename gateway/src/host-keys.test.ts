import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { loadHostKeys } from './host-keys.ts';

test('host keys are created on first start, private to the owner, and the same on the next start', async (t) => {
  const dir = join(await mkdtemp(join(tmpdir(), 'portcullis-hostkeys-')), 'keys');
  t.after(() => rm(dirname(dir), { recursive: true, force: true }));
  const log = pino({ level: 'silent' });
  const first = await loadHostKeys(dir, log);
  const second = await loadHostKeys(dir, log);
  assert.equal(first.length, 2);
  assert.deepEqual(second, first);
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  assert.equal((await stat(join(dir, 'ssh_host_ed25519_key'))).mode & 0o777, 0o600);
});

test('a stored host key that does not parse stops the start, naming the file', async (t) => {
  const { writeFile } = await import('node:fs/promises');
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-hostkeys-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'ssh_host_ed25519_key'), 'not a private key at all\n');
  await assert.rejects(loadHostKeys(dir, pino({ level: 'silent' })), /ssh_host_ed25519_key is not a valid private key/);
});

test('every generated host key parses (ssh2 sometimes makes one it cannot read back)', async (t) => {
  const ssh2 = (await import('ssh2')).default;
  // 300 starts: with ssh2's ~0.4% bad ed25519 keys, an unchecked generator fails here most runs.
  for (let run = 0; run < 300; run += 1) {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-hostkeys-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    for (const key of await loadHostKeys(dir, pino({ level: 'silent' }))) assert.ok(!(ssh2.utils.parseKey(key) instanceof Error));
  }
});
