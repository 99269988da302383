import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { opensshInvocation, runSsh } from '../helpers/ssh-client.ts';
import { sshTerminal } from '../helpers/tmux.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { waitForNoSessionContainers } from '../helpers/docker.ts';
import { E2E } from '../helpers/deadlines.ts';

describe('a user logs in with plain ssh and lands in a container', () => {
  let world: World;
  let keyDir: string;
  before(async () => {
    keyDir = await mkdtemp(join(tmpdir(), 'portcullis-keys-'));
    await promisify(execFile)('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'id_ed25519')]);
    await promisify(execFile)('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'other')]);
    const publicKey = (await readFile(join(keyDir, 'id_ed25519.pub'), 'utf8')).trim();
    world = await startWorld({ authorizedKeys: [publicKey] });
  });
  after(async () => {
    await rm(keyDir, { recursive: true, force: true });
    await world.stop();
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId), [], 'no session container is left');
  });

  const ssh = (command: string, extra: Partial<Parameters<typeof runSsh>[0]> = {}) => runSsh({ port: world.sshPort, username: world.username, password: world.password, command, ...extra });

  test('a command runs as a non-root user with its home directory', E2E, async () => {
    const result = await ssh('id -u; echo $HOME');
    assert.equal(result.code, 0, result.stderr);
    const [uid, home] = result.stdout.trim().split('\n');
    assert.notEqual(uid, '0');
    assert.match(uid ?? '', /^\d+$/);
    assert.equal(home, '/home/user');
  });

  test('the exit code reaches the client', E2E, async () => {
    const result = await ssh('exit 3');
    assert.equal(result.code, 3);
  });

  test('stdout and stderr stay separate', E2E, async () => {
    const result = await ssh('echo to-stdout; echo to-stderr >&2');
    assert.equal(result.stdout, 'to-stdout\n');
    assert.match(result.stderr, /to-stderr/);
    assert.doesNotMatch(result.stdout, /to-stderr/);
  });

  test('stdin reaches the program and its end is seen as EOF', E2E, async () => {
    const payload = 'x'.repeat(100_000);
    const result = await ssh('wc -c', { stdin: payload });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), String(payload.length));
  });

  test('a wrong password is refused', E2E, async () => {
    const result = await ssh('true', { password: `${world.password}-wrong` });
    assert.equal(result.code, 255);
    assert.match(result.stderr, /Permission denied/);
  });

  test('an authorized public key logs in; another key is refused', E2E, async () => {
    const good = await runSsh({ port: world.sshPort, username: world.username, identityFile: join(keyDir, 'id_ed25519'), command: 'echo key-ok' });
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.stdout, 'key-ok\n');
    const bad = await runSsh({ port: world.sshPort, username: world.username, identityFile: join(keyDir, 'other'), command: 'echo key-ok' });
    assert.equal(bad.code, 255);
    assert.match(bad.stderr, /Permission denied/);
  });

  test('the terminal follows the client window when it is resized', E2E, async (t) => {
    const terminal = await sshTerminal(t, `portcullis-resize-${process.pid}`, world);
    await terminal.waitFor(/\$\s*$/m);
    await terminal.type('stty size');
    await terminal.waitFor(/^30 100$/m);
    await terminal.resize(120, 40);
    await terminal.waitForSize(40, 120);
    await terminal.type('exit');
  });

  test('an interactive shell gets a real terminal', E2E, async () => {
    const { args, env } = await opensshInvocation({
      port: world.sshPort,
      username: world.username,
      password: world.password,
      tty: true,
    });
    const child = spawn('ssh', args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    // Typed as a person would: the shell echoes, runs, and prints the terminal's name.
    child.stdin.write('tty; echo "MARK$((40+2))"; exit 7\n');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 7);
    assert.match(output, /\/dev\/pts\/\d+/);
    assert.match(output, /MARK42/);
  });
});
