import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test, type TestContext } from 'node:test';
import { hashPassword, parseUsersFile, UserDirectory } from '../users-file.ts';
import { Readable } from 'node:stream';
import { parse } from 'yaml';
import { usersMain } from './users-cli.ts';
import { editUsersFile } from './users-store.ts';

const PORTCULLIS = join(import.meta.dirname, '../../../cli/portcullis');

/** `portcullis users …` as an operator runs it, with `input` on stdin. */
function users(file: string, args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PORTCULLIS, ['users', ...args], { env: { ...process.env, PORTCULLIS_USERS_FILE: file }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/** The same command in this process (no tsx start per call): for the many refusal cases. */
async function usersHere(file: string, args: string[], input = '') {
  let stdout = '';
  let stderr = '';
  const code = await usersMain(args, { stdin: Readable.from([input]), stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), defaultUsersFile: file });
  return { code, stdout, stderr };
}

async function setUp(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-users-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'users.yaml');
  await writeFile(file, `# operators' notes stay\nusers:\n  demo: { passwordHash: "${await hashPassword('demo-pw')}", metadata: { team: ops } }\n`, { mode: 0o600 });
  const key = join(dir, 'id_ed25519');
  await promisify(execFile)('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice@laptop', '-f', key]);
  return { dir, file, key, pub: `${key}.pub` };
}

async function directory(file: string) {
  return UserDirectory.create(parseUsersFile(await readFile(file, 'utf8')));
}

test('users add, passwd, add-key, remove-key, remove and list change the file in place, 0600, keeping the rest', async (t) => {
  const { file, pub } = await setUp(t);
  const publicKey = (await readFile(pub, 'utf8')).trim();
  const fingerprint = (await promisify(execFile)('ssh-keygen', ['-lf', pub])).stdout.split(' ')[1]!;

  const added = await users(file, ['add', 'alice', '--password-stdin', '--key', pub], 'alice-pw\n');
  assert.equal(added.code, 0, added.stderr);
  assert.equal(added.stdout, `added user alice with a password and key ${fingerprint}\n`);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  let dir = await directory(file);
  assert.equal(await dir.verifyPassword('alice', Buffer.from('alice-pw')), true);
  assert.equal(dir.hasAuthorizedKey('alice', publicKey.split(' ').slice(0, 2).join(' ')), true);
  assert.equal(await dir.verifyPassword('demo', Buffer.from('demo-pw')), true, 'other users unchanged');
  assert.deepEqual(dir.grantsOf('demo'), { metadata: { team: { value: 'ops', sensitive: false } } });
  assert.match(await readFile(file, 'utf8'), /^# operators' notes stay\n/);
  const written = parse(await readFile(file, 'utf8')) as { users: Record<string, { passwordHash?: string }> };
  assert.match(written.users.alice?.passwordHash ?? '', /^\$argon2id\$v=19\$/, 'an argon2id hash, never the password');

  assert.equal((await users(file, ['passwd', 'alice'], 'new-pw\n')).code, 0);
  dir = await directory(file);
  assert.equal(await dir.verifyPassword('alice', Buffer.from('new-pw')), true);
  assert.equal(await dir.verifyPassword('alice', Buffer.from('alice-pw')), false);

  const list = await users(file, ['list']);
  assert.match(list.stdout, /^NAME\s+PASSWORD\s+TOTP\s+KEYS\ndemo\s+yes\s+no\s+-\nalice\s+yes\s+no\s+SHA256:\S+\n$/);
  assert.deepEqual(JSON.parse((await users(file, ['list', '--json'])).stdout.split('\n')[1]!), { name: 'alice', password: true, totp: false, keys: [fingerprint] });

  assert.equal((await users(file, ['remove-key', 'alice', fingerprint])).code, 0);
  assert.equal((await directory(file)).hasAuthorizedKey('alice', publicKey.split(' ').slice(0, 2).join(' ')), false);
  const viaStdin = await users(file, ['add-key', 'alice', '-'], `${publicKey}\n`);
  assert.equal(viaStdin.stdout, `added key ${fingerprint} to alice\n`);
  assert.equal((await users(file, ['remove', 'demo'])).code, 0);
  dir = await directory(file);
  assert.equal(dir.size, 1);
  assert.deepEqual(
    (await readdir(join(file, '..'))).filter((name) => name.includes('users.yaml')),
    ['users.yaml'],
    'no lock or temp file left',
  );
});

test('every bad input is refused with a message naming it, and the file is left as it was', async (t) => {
  const { file, key, pub, dir } = await setUp(t);
  assert.equal((await users(file, ['add', 'alice', '--key', pub])).code, 0);
  const before = await readFile(file, 'utf8');
  const cases: Array<[string[], string, number, RegExp]> = [
    [['add', 'alice', '--key', pub], '', 1, /^portcullis users: user "alice" already exists/],
    [['add-key', 'alice', pub], '', 1, /^portcullis users: user "alice" already has key SHA256:/],
    [['passwd', 'bob'], 'pw\n', 1, /^portcullis users: no user "bob" in the users file\n$/],
    [['remove', 'bob'], '', 1, /^portcullis users: no user "bob"/],
    [['remove-key', 'alice', 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'], '', 1, /^portcullis users: user "alice" has no key SHA256:A+\n$/],
    [['remove-key', 'alice', 'SHA256:short'], '', 2, /expected a fingerprint like SHA256:/],
    [['add-key', 'alice', key], '', 1, /holds a private key: give the public key \(the \.pub file\)/],
    [['add-key', 'alice', '-'], 'ssh-ed25519 AAAAnotakey\n', 1, /^portcullis users: stdin: the key does not decode/],
    [['add-key', 'alice', '-'], 'command="sh" ssh-ed25519 AAAA\n', 1, /^portcullis users: stdin: not an OpenSSH public key line/],
    [['add-key', 'alice', join(dir, 'missing.pub')], '', 1, /cannot read the key: ENOENT/],
    [['add', 'bob'], '', 2, /add needs --password-stdin, --key FILE\|-, or both/],
    [['add', 'bob', '--password-stdin'], '\n', 2, /the password on stdin is empty/],
    [['add', '-bob', '--password-stdin'], 'pw', 2, /Unknown option|not starting with "-"/],
    [['add', 'bo b', '--password-stdin'], 'pw', 2, /"bo b": a username is/],
    [['frobnicate'], '', 2, /unknown command "frobnicate"/],
  ];
  for (const [args, input, code, message] of cases) {
    const result = await usersHere(file, args, input);
    assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message, args.join(' '));
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  }
  assert.equal(await readFile(file, 'utf8'), before, 'refused commands change nothing');
  await writeFile(file, 'users:\n  x: { passwordHash: 12 }\n');
  const broken = await usersHere(file, ['add', 'bob', '--password-stdin'], 'pw');
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /users\.x\.passwordHash/);
});

test("concurrent CLIs never lose each other's change, and a held lock is reported, not waited on forever", async (t) => {
  const { file } = await setUp(t);
  const names = ['u1', 'u2', 'u3', 'u4'];
  const results = await Promise.all(names.map((name) => users(file, ['add', name, '--password-stdin'], `${name}-pw`)));
  for (const result of results) assert.equal(result.code, 0, result.stderr);
  const dir = await directory(file);
  for (const name of names) assert.equal(await dir.verifyPassword(name, Buffer.from(`${name}-pw`)), true, name);

  await writeFile(`${file}.lock`, '1\n');
  await assert.rejects(
    editUsersFile(file, () => undefined, { lockWaitMs: 300 }),
    /users\.yaml\.lock: another "portcullis users" holds the lock .*; if none is running, remove the lock file/,
  );
});
