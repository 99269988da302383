import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { buildApp } from './app.ts';
import { LoginThrottle } from './methods/brute-force/index.ts';
import { hashPassword, loadUsersFile } from './users-file.ts';
import { UsersFileReloader } from './users-reload.ts';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
const base = (username: string, remoteAddress = '127.0.0.1:5000') => ({ username, remoteAddress, connectionId: 'c'.repeat(32) });

/** Log lines as they are written, and a wait for the next line with a code (bounded). */
function capturedLog() {
  const stream = new PassThrough();
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  stream.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
    for (const wake of waiters.splice(0)) wake();
  });
  /** The newest line with `code` once more than `seen` of them were logged (and `matches` holds for it). */
  const waitFor = async (code: string, seen: number, matches: (line: Record<string, unknown>) => boolean = () => true) => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const found = lines.filter((line) => line.code === code);
      if (found.length > seen && matches(found[found.length - 1]!)) return found[found.length - 1]!;
      assert.ok(Date.now() < deadline, `no such ${code} log line within 10 s: ${JSON.stringify(lines)}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  };
  return { logger: pino({ level: 'info' }, stream), lines, waitFor };
}

async function setUp(t: TestContext, write: (file: string, text: string) => Promise<void> = (file, text) => writeFile(file, text, { mode: 0o600 })) {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-users-reload-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'users.yaml');
  const hash = await hashPassword('pw');
  await write(file, `users:\n  bob: { passwordHash: "${hash}" }\n`);
  const users = await loadUsersFile(file);
  const log = capturedLog();
  const registry = new Registry();
  const reloader = new UsersFileReloader(file, users, log.logger, registry);
  await reloader.start();
  t.after(() => reloader.close());
  const throttle = new LoginThrottle({ addressFailures: 2, addressUserFailures: 100, windowSeconds: 600, addressBlockSeconds: 600, addressUserBackoffSeconds: 1, addressUserBackoffMaxSeconds: 1 });
  const app = buildApp({ users, throttle });
  t.after(() => app.close());
  const post = async (url: string, body: object) => {
    const res = await app.inject({ method: 'POST', url, payload: body });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { success?: boolean; state?: string };
  };
  return { dir, file, hash, reloader, registry, post, ...log };
}

test('a key added by replacing the file (temp + rename) logs in without a restart, and the reload is logged and counted', async (t) => {
  const { dir, file, hash, registry, post, waitFor } = await setUp(t);
  assert.equal((await post('/pubkey', { ...base('bob'), publicKey: KEY })).success, false);
  await writeFile(join(dir, '.users.yaml.tmp'), `users:\n  bob: { passwordHash: "${hash}", authorizedKeys: ["${KEY} bob@laptop"] }\n`, { mode: 0o600 });
  await rename(join(dir, '.users.yaml.tmp'), file);
  const reloaded = await waitFor('AUTHSERVER_USERS_RELOADED', 0);
  assert.equal(reloaded.users, 1);
  assert.equal((await post('/pubkey', { ...base('bob'), publicKey: KEY })).success, true);
  assert.match(await registry.metrics(), /portcullis_authserver_users_reloads_total\{result="success"\} 1\n/);
});

test('an in-place edit reloads; a broken file is refused, the last good users keep serving, and the fix loads again', async (t) => {
  const { file, hash, reloader, registry, post, waitFor, lines } = await setUp(t);
  await writeFile(file, `users:\n  bob: { passwordHash: "${hash}" }\n  carol: { passwordHash: "${hash}" }\n`);
  await waitFor('AUTHSERVER_USERS_RELOADED', 0);
  const password = Buffer.from('pw').toString('base64');
  assert.equal((await post('/password', { ...base('carol'), passwordBase64: password })).success, true);

  // An in-place write truncates, then writes: on a busy machine the reload may see the empty file
  // first and refuse it too, before the written content is read and refused for its own fault.
  await writeFile(file, `users:\n  bob: { passwordHash: "not-a-hash" }\n`);
  const refused = await waitFor('AUTHSERVER_USERS_RELOAD_FAILED', 0, (line) => /users\.bob\.passwordHash/.test(String(line.reason)));
  assert.match(String(refused.reason), /users\.bob\.passwordHash: expected an argon2 hash/);
  assert.match(String(reloader.lastReloadError), /users\.bob\.passwordHash/);
  assert.equal((await post('/password', { ...base('carol'), passwordBase64: password })).success, true, 'the last good users still serve');
  const refusals = lines.filter((line) => line.code === 'AUTHSERVER_USERS_RELOAD_FAILED').length;
  assert.match(await registry.metrics(), new RegExp(`portcullis_authserver_users_reloads_total\\{result="failure"\\} ${refusals}\\n`), 'every refusal is counted');

  await writeFile(file, `users:\n  bob: { passwordHash: "${hash}" }\n`);
  await waitFor('AUTHSERVER_USERS_RELOADED', 1);
  assert.equal(reloader.lastReloadError, undefined);
  assert.equal((await post('/password', { ...base('carol'), passwordBase64: password })).success, false, 'carol was removed');
});

test('brute-force blocks and keyboard-interactive logins in progress survive a reload', async (t) => {
  const { file, hash, post, waitFor } = await setUp(t);
  const attacker = '198.51.100.9:4000';
  const wrong = Buffer.from('nope').toString('base64');
  for (let i = 0; i < 2; i++) assert.equal((await post('/password', { ...base('bob', attacker), passwordBase64: wrong })).success, false);
  const started = await post('/keyboard-interactive', { ...base('bob'), round: 0, answers: [] });
  assert.ok(started.state, 'a conversation started');

  await writeFile(file, `users:\n  bob: { passwordHash: "${hash}", authorizedKeys: ["${KEY}"] }\n`);
  await waitFor('AUTHSERVER_USERS_RELOADED', 0);

  const right = Buffer.from('pw').toString('base64');
  assert.equal((await post('/password', { ...base('bob', attacker), passwordBase64: right })).success, false, 'the address stays blocked');
  const done = await post('/keyboard-interactive', { ...base('bob'), round: 1, state: started.state, answers: ['pw'] });
  assert.equal(done.success, true, 'the conversation begun before the reload finishes');
});

/**
 * How the kubelet updates a Secret or ConfigMap volume (its "atomic writer"): the files live in a
 * timestamped folder, `..data` links to it, and `users.yaml` links to `..data/users.yaml`. An update
 * writes a new folder and renames a new `..data_tmp` link over `..data`: no event names users.yaml.
 */
async function secretVolumeWrite(file: string, text: string, generation: number) {
  const dir = dirname(file);
  const folder = `..2026_12_07_00_00_0${generation}`;
  await mkdir(join(dir, folder));
  await writeFile(join(dir, folder, 'users.yaml'), text, { mode: 0o440 });
  await symlink(folder, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  if (generation === 1) await symlink('..data/users.yaml', file);
}

test('a users file mounted from a Kubernetes Secret reloads when the Secret changes (the ..data link swapped)', async (t) => {
  let generation = 0;
  const { file, hash, registry, post, waitFor } = await setUp(t, (path, text) => secretVolumeWrite(path, text, (generation += 1)));
  assert.equal((await post('/pubkey', { ...base('bob'), publicKey: KEY })).success, false);
  await secretVolumeWrite(file, `users:\n  bob: { passwordHash: "${hash}", authorizedKeys: ["${KEY}"] }\n`, (generation += 1));
  assert.equal((await waitFor('AUTHSERVER_USERS_RELOADED', 0)).users, 1);
  assert.equal((await post('/pubkey', { ...base('bob'), publicKey: KEY })).success, true);
  assert.match(await registry.metrics(), /portcullis_authserver_users_reloads_total\{result="success"\} 1\n/);
});
