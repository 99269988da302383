import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { test } from 'node:test';
import { CONTAINER_BACKENDS, backendWorld } from '../helpers/backend-world.ts';
import { logMark } from '../helpers/log-wait.ts';
import { opensshInvocation, runSsh } from '../helpers/ssh-client.ts';
import type { World } from '../helpers/world.ts';
import { E2E_SLOW } from '../helpers/deadlines.ts';
import { pollUntil } from '../helpers/poll-until.ts';

const withLimits = (session?: Record<string, string>) => (session ? { session } : undefined);

/** ssh -tt running `command`, with no input: what a user who walked away looks like. */
async function idleTerminal(world: World, command: string) {
  const { args, env, dir } = await opensshInvocation({ port: world.sshPort, username: world.username, password: world.password, tty: true, command });
  const child = spawn('ssh', args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve)).finally(() => rm(dir, { recursive: true, force: true }));
  const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  void closed.finally(() => clearTimeout(killer));
  return { child, output: () => output, closed };
}

for (const backend of CONTAINER_BACKENDS) {
  test(`time limits and keepalives (${backend})`, E2E_SLOW, async (t) => {
    const session = await backendWorld(t, backend, { gateway: { ssh: { clientAliveInterval: '1s', clientAliveCountMax: 2 } } });
    const { world, setSecurity } = session;
    t.after(async () => {
      assert.deepEqual(await session.waitForNoSessions(), [], 'no session container or pod is left');
    });

    await t.test('idle timeout: a warning on the terminal, then the program is signalled and the connection closed', async () => {
      const log = logMark(world.gateway);
      setSecurity(withLimits({ idleTimeout: '4s', warnBefore: '2s' }));
      const terminal = await idleTerminal(world, 'trap "echo got-TERM; exit 7" TERM; echo ready; while :; do sleep 0.2; done');
      const code = await terminal.closed;
      assert.match(terminal.output(), /portcullis: this session ends in 2s: idle timeout \(SESSION_IDLE_TIMEOUT\)/);
      assert.match(terminal.output(), /portcullis: session closed: idle timeout \(SESSION_IDLE_TIMEOUT\)/);
      assert.match(terminal.output(), /got-TERM/);
      assert.notEqual(code, 0);
      await log.next('SESSION_LIMIT_WARNING');
      await log.next('SESSION_IDLE_TIMEOUT');
    });

    await t.test('idle timeout: input keeps the session alive', async () => {
      setSecurity(withLimits({ idleTimeout: '3s', warnBefore: '1s' }));
      // Input arrives over ~6 s, never 3 s apart: the timeout never fires.
      const { args, env, dir } = await opensshInvocation({
        port: world.sshPort,
        username: world.username,
        password: world.password,
        command: 'for i in 1 2 3 4 5 6; do read -r line; done; echo done',
      });
      const child = spawn('ssh', args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
      for (let i = 0; i < 6; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        child.stdin.write('line\n');
      }
      child.stdin.end();
      assert.equal(await closed, 0);
      assert.equal(stdout, 'done\n');
      await rm(dir, { recursive: true, force: true });
    });

    await t.test('maximum duration: warned, then closed even while the user is typing', async () => {
      const log = logMark(world.gateway);
      setSecurity(withLimits({ maxDuration: '5s', warnBefore: '3s' }));
      const terminal = await idleTerminal(world, 'echo ready; while :; do sleep 0.2; done');
      const typing = setInterval(() => terminal.child.stdin.write('x'), 500);
      const code = await terminal.closed;
      clearInterval(typing);
      assert.match(terminal.output(), /this session ends in 3s: maximum session duration \(SESSION_MAX_DURATION\)/);
      assert.match(terminal.output(), /session closed: maximum session duration \(SESSION_MAX_DURATION\)/);
      assert.notEqual(code, 0);
      await log.next('SESSION_MAX_DURATION');
    });

    await t.test('keepalives: a client frozen with SIGSTOP is dropped and its container (pod) removed', async () => {
      const log = logMark(world.gateway);
      setSecurity(withLimits());
      const terminal = await idleTerminal(world, 'echo ready; sleep 120');
      await pollUntil(
        () => {
          if (terminal.child.exitCode !== null) throw new Error(`no ready: ${terminal.output()}`);
          return terminal.output().includes('ready');
        },
        { what: '"ready" on the terminal', timeoutMs: 60_000 },
      );
      assert.equal((await session.sessions()).length, 1);
      terminal.child.kill('SIGSTOP');
      try {
        await log.next('SSH_KEEPALIVE_TIMEOUT', 30_000);
        await log.next('SSH_DISCONNECTED', 30_000);
        assert.deepEqual(await session.waitForNoSessions(), []);
      } finally {
        terminal.child.kill('SIGKILL');
        terminal.child.kill('SIGCONT');
      }
      await terminal.closed;
    });

    await t.test('keepalives: a client sending its own keepalive requests is answered and stays connected', async () => {
      setSecurity(withLimits());
      const result = await runSsh({
        port: world.sshPort,
        username: world.username,
        password: world.password,
        command: 'sleep 4; echo alive',
        extraArgs: ['-o', 'ServerAliveInterval=1', '-o', 'ServerAliveCountMax=2'],
      });
      assert.equal(result.stdout, 'alive\n', result.stderr);
      assert.equal(result.code, 0);
    });
  });
}
