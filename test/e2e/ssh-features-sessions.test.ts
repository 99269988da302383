import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import ssh2 from 'ssh2';
import { CONTAINER_BACKENDS, backendWorld } from '../helpers/backend-world.ts';
import { logMark } from '../helpers/log-wait.ts';
import { holdSession, openSharedConnection, opensshInvocation, runSsh, type SshOptions } from '../helpers/ssh-client.ts';
import type { World } from '../helpers/world.ts';
import { E2E_SLOW } from '../helpers/deadlines.ts';

/** An ssh2 client logged in through the gateway (for requests OpenSSH cannot send, like `signal`). */
async function ssh2Client(world: World): Promise<ssh2.Client> {
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve).once('error', reject);
    client.connect({ host: '127.0.0.1', port: world.sshPort, username: world.username, password: world.password, readyTimeout: 60_000 });
  });
  return client;
}

/** Runs `command`, sends `signal` once output shows, and resolves how the program ended. */
function execAndSignal(client: ssh2.Client, command: string, signal: string, afterSignal?: () => void) {
  return new Promise<{ code: number | null; signal?: string; output: string }>((resolve, reject) => {
    client.exec(command, (error, channel) => {
      if (error) return reject(error);
      let output = '';
      channel.on('exit', (code: number | null, signalName?: string) => resolve({ code, ...(signalName ? { signal: signalName } : {}), output }));
      channel.on('data', (chunk: Buffer) => {
        const first = output === '';
        output += chunk.toString('utf8');
        if (first) {
          channel.signal(signal);
          afterSignal?.();
        }
      });
      channel.stderr.resume();
    });
  });
}

for (const backend of CONTAINER_BACKENDS) {
  test(`sessions and security filters with the real OpenSSH client (${backend})`, E2E_SLOW, async (t) => {
    const session = await backendWorld(t, backend);
    const { world, setSecurity } = session;
    t.after(async () => {
      assert.deepEqual(await session.waitForNoSessions(), [], 'no session container or pod is left');
    });
    const ssh = (command: string | undefined, extra: Partial<SshOptions> = {}) =>
      runSsh({ port: world.sshPort, username: world.username, password: world.password, ...(command !== undefined ? { command } : {}), ...extra });

    await t.test('a client signal request reaches the program and comes back as exit-signal', async (t) => {
      const log = logMark(world.gateway);
      setSecurity();
      const client = await ssh2Client(world);
      t.after(() => client.end());
      const ended = await execAndSignal(client, 'echo started; exec sleep 60', 'INT');
      assert.deepEqual({ code: ended.code, signal: ended.signal }, { code: null, signal: 'SIGINT' });
      await log.next('SESSION_SIGNAL_DELIVERED');
    });

    await t.test('a signal the policy denies is refused and the program keeps running', async (t) => {
      const log = logMark(world.gateway);
      setSecurity({ signal: { mode: 'enable', deny: ['TERM'] } });
      const client = await ssh2Client(world);
      t.after(() => client.end());
      const ended = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
        client.exec('echo started; read -r line; echo "still here $line"', (error, channel) => {
          if (error) return reject(error);
          let output = '';
          channel.on('exit', (code: number | null) => resolve({ code, output }));
          channel.on('data', (chunk: Buffer) => {
            const first = output === '';
            output += chunk.toString('utf8');
            if (!first) return;
            channel.signal('TERM');
            // Only once the gateway has refused it does stdin let the program finish.
            void log.next('SECURITY_SIGNAL_REJECTED').then(() => channel.end('yes\n'), reject);
          });
          channel.stderr.resume();
        });
      });
      assert.deepEqual(ended, { code: 0, output: 'started\nstill here yes\n' });
    });

    await t.test('Ctrl-C in a terminal stops sleep and the client sees the SIGINT exit (130)', async () => {
      setSecurity();
      const held = await holdSession({ port: world.sshPort, username: world.username, password: world.password, tty: true, command: 'echo ready; sleep 60; echo not-interrupted' });
      await held.waitFor('ready', 60_000);
      held.release('\x03');
      assert.equal(await held.closed, 130, held.stdout());
      assert.doesNotMatch(held.stdout(), /not-interrupted/);
    });

    await t.test('several sessions on one connection run side by side in one container (pod); stdin EOF reaches each', async () => {
      setSecurity();
      const shared = await openSharedConnection({ port: world.sshPort, username: world.username, password: world.password });
      try {
        const results = await Promise.all([1, 2, 3].map((n) => shared.run(`echo session-${n}; hostname`)));
        for (const [index, result] of results.entries()) assert.match(result.stdout, new RegExp(`^session-${index + 1}\n`), result.stderr);
        assert.equal(new Set(results.map((result) => result.stdout.split('\n')[1])).size, 1, 'one container (pod) for the connection');
        assert.equal((await session.sessions()).length, 1);
      } finally {
        await shared.close();
      }
      const cat = await ssh('wc -c', { stdin: 'four' });
      assert.equal(cat.stdout.trim(), '4');
    });

    await t.test('env requests: the allow list passes, everything else is refused with a code', async () => {
      const log = logMark(world.gateway);
      setSecurity({ env: { mode: 'filter', allow: ['LANG', 'LD_PRELOAD'], deny: ['LD_PRELOAD'] } });
      const result = await ssh('echo "[$LANG][$FOO][$LD_PRELOAD]"', { extraArgs: ['-o', 'SetEnv=LANG=C.UTF-8 FOO=bar LD_PRELOAD=/tmp/x.so'] });
      assert.equal(result.stdout, '[C.UTF-8][][]\n', result.stderr);
      const refusal = await log.next('SECURITY_ENV_REJECTED');
      assert.ok(['FOO', 'LD_PRELOAD'].includes(String(refusal.name)));
    });

    await t.test('command allowlist: the listed command runs, another is refused with a clear line', async () => {
      setSecurity({ command: { mode: 'filter', allow: ['echo allowed'] } });
      const allowed = await ssh('echo allowed');
      assert.equal(allowed.stdout, 'allowed\n', allowed.stderr);
      const refused = await ssh('id');
      assert.equal(refused.code, 1);
      assert.equal(refused.stdout, '');
      assert.match(refused.stderr, /portcullis: This command is not allowed for this session\. \(SECURITY_EXEC_REJECTED\)/);
    });

    await t.test('forceCommand replaces exec and shell; the original command is in SSH_ORIGINAL_COMMAND', async () => {
      const log = logMark(world.gateway);
      setSecurity({ forceCommand: 'echo "forced:[$SSH_ORIGINAL_COMMAND]"' });
      const exec = await ssh('cat /etc/passwd');
      assert.equal(exec.stdout, 'forced:[cat /etc/passwd]\n', exec.stderr);
      const shell = await ssh(undefined, { stdin: 'id\n' });
      assert.equal(shell.stdout, 'forced:[]\n', shell.stderr);
      await log.next('SECURITY_EXEC_FORCING_COMMAND');
    });

    await t.test('pty: refused when disabled (OpenSSH -tt then gives up), granted otherwise', async () => {
      const log = logMark(world.gateway);
      setSecurity({ tty: { mode: 'disable' } });
      // `ssh -tt` insists on a terminal, so OpenSSH gives up when the gateway refuses one.
      const refused = await ssh('tty', { tty: true });
      assert.match(refused.stderr, /PTY allocation request failed/);
      assert.equal(refused.stdout, '');
      await log.next('SECURITY_TTY_REJECTED');
      setSecurity({ tty: { mode: 'enable' } });
      const granted = await ssh('tty', { tty: true });
      assert.match(granted.stdout, /^\/dev\/pts\//);
    });

    await t.test('subsystem deny list: sftp refused with a code, allowed otherwise', async () => {
      const log = logMark(world.gateway);
      setSecurity({ subsystem: { mode: 'enable', deny: ['sftp'] } });
      const refused = await sftpBatch(world, 'pwd\n');
      assert.notEqual(refused.code, 0);
      await log.next('SECURITY_SUBSYSTEM_REJECTED');
      setSecurity({ subsystem: { mode: 'filter', allow: ['sftp'] } });
      const allowed = await sftpBatch(world, 'pwd\n');
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.match(allowed.stdout, /Remote working directory: \/home\/user/);
    });

    await t.test('defaultMode disable: a shell and an exec are refused, an explicitly enabled exec runs', async () => {
      setSecurity({ defaultMode: 'disable' });
      const shell = await ssh(undefined, { stdin: 'id\n' });
      assert.match(shell.stderr, /SECURITY_SHELL_REJECTED/);
      const exec = await ssh('id');
      assert.match(exec.stderr, /SECURITY_EXEC_REJECTED/);
      setSecurity({ defaultMode: 'disable', command: { mode: 'enable' } });
      const enabled = await ssh('echo ok');
      assert.equal(enabled.stdout, 'ok\n', enabled.stderr);
    });

    await t.test('maxSessions: a second session on the same connection is refused while the first runs', async (t) => {
      const log = logMark(world.gateway);
      setSecurity({ maxSessions: 1 });
      const client = await ssh2Client(world);
      t.after(() => client.end());
      const exec = (command: string) =>
        new Promise<{ output: string; code: number | null }>((resolve, reject) => {
          client.exec(command, (error, channel) => {
            if (error) return reject(error);
            let output = '';
            channel.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
            channel.on('exit', (code: number | null) => channel.once('close', () => resolve({ output, code })));
            channel.stderr.resume();
            channel.end();
          });
        });
      const first = exec('echo first; sleep 3');
      await assert.rejects(exec('echo second'), /open failure|prohibited/i);
      await log.next('SECURITY_MAX_SESSIONS');
      assert.deepEqual(await first, { output: 'first\n', code: 0 });
      assert.deepEqual(await exec('echo third'), { output: 'third\n', code: 0 }, 'the slot is free again once the first session closed');
    });

    await t.test('maxConnectionsPerUser: a second connection is refused with a clear line while the first is open', async () => {
      setSecurity({ maxConnectionsPerUser: 1 });
      const held = await holdSession({ port: world.sshPort, username: world.username, password: world.password, command: 'echo holding; read -r line' });
      try {
        await held.waitFor('holding', 60_000);
        const second = await ssh('echo second');
        assert.equal(second.code, 255);
        assert.match(second.stderr, /maximum|as many connections.*SECURITY_MAX_CONNECTIONS_PER_USER/);
      } finally {
        held.release();
        await held.closed;
      }
      const again = await ssh('echo again');
      assert.equal(again.stdout, 'again\n', again.stderr);
    });
  });
}

/** Runs `sftp` through the gateway with commands on stdin. */
async function sftpBatch(world: World, batch: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { args, env, dir } = await opensshInvocation({ port: world.sshPort, username: world.username, password: world.password });
  // ssh options shared with sftp: everything before -T/-p and the target.
  const options = args.slice(0, args.indexOf('-T'));
  const target = `${world.username}@127.0.0.1`;
  return new Promise((resolve, reject) => {
    // Not `-b`: batch mode would forbid the password prompt; commands come on stdin instead.
    const child = spawn('sftp', [...options, '-P', String(world.sshPort), target], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      void import('node:fs/promises').then(({ rm }) => rm(dir, { recursive: true, force: true }));
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(batch);
  });
}
