import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { createPki } from '@portcullis/pki';
import { httpsJson } from '../../test/helpers/https-json.ts';
import { parseUsersFile, UserDirectory } from './users-file.ts';

const MAIN = join(import.meta.dirname, 'main.ts');
const run = (args: string[], input?: string) => {
  const child = promisify(execFile)(process.execPath, ['--import', 'tsx', MAIN, ...args]);
  if (input !== undefined) child.child.stdin?.end(input);
  return child;
};

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-authserver-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('init-demo writes a 0600 users file once and prints the password once', async (t) => {
  const file = join(await tempDir(t), 'state', 'users.yaml');
  const first = await run(['init-demo', '--users-file', file]);
  const password = /Demo login: ssh -p 2222 demo@localhost {3}password: (\S+)/.exec(first.stdout)?.[1];
  assert.ok(password, first.stdout);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const users = await UserDirectory.create(parseUsersFile(await readFile(file, 'utf8')));
  assert.equal(await users.verifyPassword('demo', Buffer.from(password)), true);

  const second = await run(['init-demo', '--users-file', file]);
  assert.match(second.stdout, /already exists/);
  assert.ok(!second.stdout.includes(password));
});

test('hash-password hashes stdin without its trailing newline', async () => {
  const { stdout } = await run(['hash-password'], 'open sesame\n');
  const users = await UserDirectory.create(parseUsersFile(`users: { a: { passwordHash: "${stdout.trim()}" } }`));
  assert.equal(await users.verifyPassword('a', Buffer.from('open sesame')), true);
});

test('serve logs one AUTHSERVER_LISTENING line with the port and answers over mTLS', async (t) => {
  const dir = await tempDir(t);
  const pki = await createPki(join(dir, 'certs'));
  await run(['init-demo', '--users-file', join(dir, 'users.yaml')]);
  await writeFile(
    join(dir, 'authserver.yaml'),
    `listen: "127.0.0.1:0"
tls: { certFile: certs/authserver.crt, keyFile: certs/authserver.key, clientCaFile: certs/ca.crt, allowedClientNames: [gateway] }
usersFile: users.yaml
log: { level: info }
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--config', join(dir, 'authserver.yaml')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });
  const lines: Array<Record<string, unknown>> = [];
  let listening: Record<string, unknown> | undefined;
  for await (const line of createInterface({ input: child.stdout })) {
    const entry = JSON.parse(line) as Record<string, unknown>;
    lines.push(entry);
    if (entry.code === 'AUTHSERVER_LISTENING') {
      listening = entry;
      break;
    }
  }
  assert.ok(listening, JSON.stringify(lines));
  assert.equal(typeof listening.port, 'number');
  assert.equal(listening.address, '127.0.0.1');
  const tls = { ca: await readFile(pki.ca.cert), cert: await readFile(pki.gateway.cert), key: await readFile(pki.gateway.key) };
  assert.deepEqual(await httpsJson(`https://127.0.0.1:${String(listening.port)}/healthz`, tls), {
    statusCode: 200,
    body: { status: 'ok' },
  });
});

test('a bad config file exits 1 with AUTHSERVER_CONFIG_INVALID naming the option', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'c.yaml'), 'usersFile: u.yaml\ntls: { certFile: a }\n');
  await assert.rejects(run(['--config', join(dir, 'c.yaml')]), (err: { code?: number; stdout?: string }) => {
    const entry = JSON.parse(String(err.stdout).trim()) as Record<string, unknown>;
    return err.code === 1 && entry.code === 'AUTHSERVER_CONFIG_INVALID' && /tls\.keyFile/.test(String(entry.msg));
  });
});

test('unknown commands print usage and exit 2', async () => {
  await assert.rejects(run(['frobnicate']), (err: { code?: number; stderr?: string }) => err.code === 2 && /usage/.test(String(err.stderr)));
});
