import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Client, type ClientChannel } from 'ssh2';
import { backendWorld, type ContainerBackend } from '../helpers/backend-world.ts';
import { runBounded } from '../helpers/bounded-process.ts';
import { startDockerCountingProxy, type DockerCountingProxy } from '../helpers/docker-counting-proxy.ts';
import { LONG } from '../helpers/long-mode.ts';
import { logMark } from '../helpers/log-wait.ts';
import { watchResources, type ResourceWatch } from '../helpers/resource-watch.ts';
import { runSsh, opensshInvocation } from '../helpers/ssh-client.ts';
import { startTerminal } from '../helpers/tmux.ts';
import type { World } from '../helpers/world.ts';
import { E2E_SLOW } from '../helpers/deadlines.ts';

/** Bulk download size: the issue's 64 MiB in long mode, enough to cross Dropbear's small window many times otherwise. */
const DOWNLOAD_BYTES = LONG ? 64 * 1024 * 1024 : 8 * 1024 * 1024;

function dropbear(world: World, home: string) {
  return {
    env: { ...process.env, HOME: home, DROPBEAR_PASSWORD: world.password },
    args: (command: string) => ['-y', '-p', String(world.sshPort), '-l', world.username, '127.0.0.1', command],
  };
}

/** The gateway is the same process and it never reached its last resort. */
function assertGatewayIntact(world: World, pid: number | undefined) {
  assert.equal(world.gateway.process.pid, pid);
  assert.equal(world.gateway.process.exitCode, null, 'the gateway process is still running');
  assert.equal(world.gateway.process.signalCode, null);
  const lastResort = world.gateway.logs.filter((line) => line.code === 'GATEWAY_UNCAUGHT_EXCEPTION' || line.code === 'GATEWAY_UNHANDLED_REJECTION');
  assert.deepEqual(lastResort, [], 'no fault escaped its connection');
}

/** dbclient with `file` as stdin; resolves once it printed `bytes` of output, then SIGKILLs it. */
async function killDbclientMidTransfer(world: World, home: string, command: string, stdinFile: string, bytes: number): Promise<number> {
  const { env, args } = dropbear(world, home);
  const input = await open(stdinFile, 'r');
  const child = spawn('dbclient', args(command), { env, stdio: [input.fd, 'pipe', 'ignore'] });
  let received = 0;
  const exited = once(child, 'close');
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dbclient printed ${received} of ${bytes} bytes within 60 s`)), 60_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= bytes) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('close', () => reject(new Error(`dbclient ended after ${received} bytes, before it could be killed`)));
    });
  } finally {
    child.kill('SIGKILL');
    await exited;
    await input.close();
  }
  return received;
}

test('Dropbear (compression, small windows): bulk data both ways ends with its exit status, and a client killed mid-transfer costs only its own connection (docker)', E2E_SLOW, async (t) => {
  const session = await backendWorld(t, 'docker');
  const { world } = session;
  const home = await mkdtemp(join(tmpdir(), 'portcullis-containment-'));
  t.after(async () => {
    await rm(home, { recursive: true, force: true });
    assert.deepEqual(await session.waitForNoSessions(), [], 'no session container is left');
  });
  const upload = join(home, 'five-mib.bin');
  const content = randomBytes(5 * 1024 * 1024);
  await writeFile(upload, content);
  const { env, args } = dropbear(world, home);
  const pid = world.gateway.process.pid;

  await t.test('5 MiB round trip through cat comes back whole, with exit status 0', async () => {
    const result = await runBounded('sh', ['-c', 'dbclient "$@" < "$0" | sha256sum', upload, ...args('cat')], { env, timeoutMs: 90_000 });
    assert.equal(result.stdout.split(' ')[0], createHash('sha256').update(content).digest('hex'), result.stderr);
    assert.equal(result.code, 0);
  });

  await t.test(`a ${DOWNLOAD_BYTES / 1024 / 1024} MiB download ends, with the program's exit status`, async () => {
    const result = await runBounded('dbclient', args(`head -c ${DOWNLOAD_BYTES} /dev/zero; exit 7`), { env, timeoutMs: 120_000 });
    assert.equal(result.stdout.length, DOWNLOAD_BYTES, result.stderr);
    assert.equal(result.code, 7, 'the exit status follows the last byte of output');
  });

  await t.test('clients killed mid-upload and mid-download: the gateway lives on, a bystander connection is untouched', async () => {
    const bystander = runSsh({
      port: world.sshPort,
      username: world.username,
      password: world.password,
      command: 'for i in $(seq 1 60); do echo "tick $i"; sleep 0.1; done; echo bystander-done',
      timeoutMs: 90_000,
    });
    const mark = logMark(world.gateway);
    const kills = LONG ? 10 : 3;
    for (let i = 0; i < kills; i += 1) {
      assert.ok((await killDbclientMidTransfer(world, home, 'cat', upload, 512 * 1024)) >= 512 * 1024);
      assert.ok((await killDbclientMidTransfer(world, home, `head -c ${DOWNLOAD_BYTES} /dev/zero`, '/dev/null', 512 * 1024)) >= 512 * 1024);
    }
    await mark.atLeast('SSH_DISCONNECTED', kills * 2, 30_000);
    const result = await bystander;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${Array.from({ length: 60 }, (_, i) => `tick ${i + 1}\n`).join('')}bystander-done\n`);
    assertGatewayIntact(world, pid);
    // And the gateway still serves a new login.
    const after = await runBounded('dbclient', args('echo still-serving'), { env, timeoutMs: 60_000 });
    assert.equal(after.stdout, 'still-serving\n', after.stderr);
  });
});

/** OpenSSH in a real 100x30 terminal (tmux) running `command`; resolves with the screen once `until` shows. */
async function terminalRun(t: TestContext, world: World, name: string, command: string, until: RegExp): Promise<string> {
  const { args, env, dir } = await opensshInvocation({ port: world.sshPort, username: world.username, password: world.password, tty: true, command });
  const terminal = await startTerminal(
    name,
    ['ssh', ...args],
    {
      SSH_ASKPASS: env.SSH_ASKPASS!,
      SSH_ASKPASS_REQUIRE: 'force',
      DISPLAY: ':0',
      PORTCULLIS_TEST_PASSWORD: world.password,
    },
    { cols: 100, rows: 30 },
  );
  t.after(async () => {
    await terminal.kill();
    await rm(dir, { recursive: true, force: true });
  });
  return terminal.waitFor(until, 60_000);
}

for (const backend of ['docker', 'kubernetes'] as const satisfies readonly ContainerBackend[]) {
  test(`a pty has the client's size before the program's first instruction (${backend})`, E2E_SLOW, async (t) => {
    const session = await backendWorld(t, backend);
    t.after(async () => assert.deepEqual(await session.waitForNoSessions(), [], 'nothing is left'));
    // `read` keeps the program waiting, so the first size is the one it started with, not a later resize.
    for (let i = 0; i < 3; i += 1) {
      const screen = await terminalRun(t, session.world, `pc-size-${backend}-${process.pid}-${i}`, 'echo "size-at-start [$(stty size)]"; read x', /size-at-start \[[^\]]*\]/);
      assert.match(screen, /size-at-start \[30 100\]/, `run ${i + 1}: the first instruction sees the terminal's size`);
    }
  });
}

/** An ssh2 client logged in to the gateway (the floods need request counts no CLI client sends). */
async function ssh2Login(t: TestContext, world: World, localAddress = '127.0.0.1'): Promise<Client> {
  const client = new Client();
  t.after(() => client.end());
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve()).once('error', reject);
    client.connect({ host: '127.0.0.1', localAddress, port: world.sshPort, username: world.username, password: world.password, readyTimeout: 30_000 });
  });
  return client;
}

function collect(channel: ClientChannel): { text(): string; until(pattern: RegExp, deadlineMs?: number): Promise<string> } {
  let text = '';
  channel.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  channel.stderr.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  return {
    text: () => text,
    until: async (pattern, deadlineMs = 30_000) => {
      const end = Date.now() + deadlineMs;
      while (!pattern.test(text)) {
        if (Date.now() > end) throw new Error(`never saw ${pattern} in:\n${text.slice(-2000)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return text;
    },
  };
}

/** The engine's open files and the gateway's memory during a flood, and what the gateway had open to the engine at most. */
async function assertFloodCostsFlat(t: TestContext, watch: ResourceWatch, proxy: DockerCountingProxy, flood: string) {
  const { dockerdOpenFiles, rssBytes } = await watch.stop();
  const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
  t.diagnostic(
    `${flood}: gateway connections to the engine at most ${proxy.counts.maxConnectionsOpen}; dockerd open files ${dockerdOpenFiles ? `${dockerdOpenFiles.before} → at most ${dockerdOpenFiles.max}` : 'not visible (no local dockerd)'}; gateway RSS ${mib(rssBytes.before)} → at most ${mib(rssBytes.max)} MiB`,
  );
  // The pool's maxConcurrentRequests (32) plus the attached exec streams of the two sessions: the unbounded flood opened one per request.
  assert.ok(proxy.counts.maxConnectionsOpen <= 40, `${proxy.counts.maxConnectionsOpen} connections to the engine at once`);
  // The engine is shared with other tests: a margin for them, far below the 20,000 the flood once reached.
  if (dockerdOpenFiles) assert.ok(dockerdOpenFiles.max - dockerdOpenFiles.before < 1_000, `dockerd went from ${dockerdOpenFiles.before} to ${dockerdOpenFiles.max} open files`);
  assert.ok(rssBytes.max - rssBytes.before < 64 * 1024 * 1024, `the gateway grew from ${mib(rssBytes.before)} to ${mib(rssBytes.max)} MiB`);
}

test('one client cannot flood the Docker engine: 20,000 window-changes and 300 signals on one session (docker)', E2E_SLOW, async (t) => {
  const proxy = await startDockerCountingProxy();
  t.after(() => proxy.close());
  const session = await backendWorld(t, 'docker', { gateway: { docker: { socketPath: proxy.socketPath } } });
  const { world } = session;
  t.after(async () => assert.deepEqual(await session.waitForNoSessions(), [], 'no session container is left'));
  const pid = world.gateway.process.pid;
  // The flood comes from 127.0.0.2; a bystander on 127.0.0.1 logs in meanwhile (a container start of its own) and is timed.
  const client = await ssh2Login(t, world, '127.0.0.2');
  const bystander = async (during: string) => {
    const from = world.gateway.logs.length;
    const started = performance.now();
    const result = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'echo bystander-ok', extraArgs: ['-b', '127.0.0.1'], timeoutMs: 60_000 });
    t.diagnostic(`bystander from 127.0.0.1 during ${during}: login + command in ${((performance.now() - started) / 1000).toFixed(2)} s`);
    const warnings = world.gateway.logs.slice(from).filter((line) => Number(line.level) >= 40);
    assert.equal(result.code, 0, `the bystander logs in during ${during}: ${result.stderr}\n${warnings.map((line) => JSON.stringify(line)).join('\n')}`);
    assert.equal(result.stdout, 'bystander-ok\n');
  };

  await t.test('window-change: coalesced, one resize call in flight, the latest size wins', async () => {
    const shell = await new Promise<ClientChannel>((resolve, reject) => client.shell({ term: 'xterm', cols: 80, rows: 24 }, (error, channel) => (error ? reject(error) : resolve(channel))));
    const output = collect(shell);
    shell.write('echo ready-$((6*7))\n');
    await output.until(/ready-42/);
    proxy.reset();
    const watch = await watchResources(pid!);
    const requests = 20_000;
    for (let i = 0; i < requests; i += 1) shell.setWindow(20 + (i % 50), 60 + (i % 100), 0, 0);
    shell.setWindow(33, 111, 0, 0);
    const bystanderDone = bystander('20,000 window-changes from 127.0.0.2');
    // The last size reaches the terminal: coalescing keeps the latest, in order.
    const end = Date.now() + 60_000;
    for (let probe = 0; ; probe += 1) {
      shell.write(`echo "probe-${probe} [$(stty size)]"\n`);
      const text = await output.until(new RegExp(`probe-${probe} \\[[^\\]]*\\]`));
      if (text.includes(`probe-${probe} [33 111]`)) break;
      assert.ok(Date.now() < end, `the terminal never reached 33x111:\n${text.slice(-500)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await bystanderDone;
    await assertFloodCostsFlat(t, watch, proxy, `${requests + 1} window-changes`);
    t.diagnostic(`${requests + 1} window-change requests → ${proxy.counts.resizes} resize calls, at most ${proxy.counts.maxResizesInFlight} in flight`);
    assert.ok(proxy.counts.resizes >= 1, 'the size did go to the engine');
    assert.ok(proxy.counts.resizes <= requests / 10, `${proxy.counts.resizes} resize calls for ${requests} requests`);
    assert.equal(proxy.counts.maxResizesInFlight, 1, 'never more than one resize call at a time');
    shell.end();
  });

  await t.test('signals: one helper at a time, a flood refused beyond the rate, the program still signalled', async () => {
    const exec = await new Promise<ClientChannel>((resolve, reject) =>
      client.exec(`trap 'echo got-usr1' USR1; trap '' USR2 ALRM PIPE HUP; echo armed; i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done`, (error, channel) =>
        error ? reject(error) : resolve(channel),
      ),
    );
    const output = collect(exec);
    await output.until(/armed/);
    // The figures are this session's container's: the bystander's own exec is not a signal helper.
    proxy.reset(proxy.lastExecContainer());
    const streamsBefore = proxy.execStreamsOpen();
    const mark = logMark(world.gateway);
    // Five names (the others trapped and ignored): a waiting signal of the same name is merged, distinct ones queue.
    const names = ['USR1', 'USR2', 'ALRM', 'PIPE', 'HUP'];
    const watch = await watchResources(pid!);
    for (let i = 0; i < 300; i += 1) exec.signal(names[i % names.length]!);
    const bystanderDone = bystander('300 signals from 127.0.0.2');
    await output.until(/got-usr1/, 30_000);
    await mark.atLeast('SESSION_SIGNAL_RATE_LIMITED', 1, 30_000);
    // Let whatever was accepted finish (no helper open, no new delivery for a second), then read the figures.
    const deliveries = () => world.gateway.logs.filter((line) => line.code === 'SESSION_SIGNAL_DELIVERED' || line.code === 'SESSION_SIGNAL_FAILED').length;
    const end = Date.now() + 30_000;
    for (let seen = -1, quietSince = Date.now(); Date.now() < end; await new Promise((resolve) => setTimeout(resolve, 100))) {
      if (deliveries() !== seen || proxy.execStreamsOpen() > streamsBefore) {
        seen = deliveries();
        quietSince = Date.now();
      } else if (Date.now() - quietSince > 1_000) break;
    }
    await bystanderDone;
    await assertFloodCostsFlat(t, watch, proxy, '300 signals');
    t.diagnostic(`300 signals → ${proxy.counts.execCreates} helper execs, at most ${proxy.counts.maxExecStreamsOpen - streamsBefore} at a time`);
    assert.ok(proxy.counts.execCreates >= 2 && proxy.counts.execCreates <= 20, `${proxy.counts.execCreates} helpers for 300 signals`);
    assert.equal(proxy.counts.maxExecStreamsOpen - streamsBefore, 1, 'one helper at a time');
    exec.close();
  });

  await t.test('ssh -s constructor, __proto__, toString: refused with a clear line, the gateway unharmed', async () => {
    for (const name of ['constructor', '__proto__', 'toString']) {
      const result = await runSsh({ port: world.sshPort, username: world.username, password: world.password, extraArgs: ['-s'], command: name, timeoutMs: 60_000 });
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, new RegExp(`The ${name} subsystem is not available`), result.stderr);
    }
    assertGatewayIntact(world, pid);
  });
});
