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

