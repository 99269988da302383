import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import ssh2 from 'ssh2';
import { listSessionContainers, waitForNoSessionContainers } from '../helpers/docker.ts';
import { hardenedExecution, worldWithExecution } from '../helpers/fake-config.ts';
import { byMode } from '../helpers/long-mode.ts';
import { openSharedConnection, type SharedConnection } from '../helpers/ssh-client.ts';
import type { World } from '../helpers/world.ts';
import { pollUntilOrLast } from '../helpers/poll-until.ts';

const run = promisify(execFile);

/**
 * Load on the Docker backend: 200 SSH sessions open at the same time, each running a command in a
 * loop for a bounded time, every command's output and exit status checked; afterwards nothing of
 * the gateway is left (containers, connections, memory, handles, processes).
 *
 * Shape, chosen for a 2-core machine whose one Docker engine other tests share: the requirement
 * is 200 concurrent sessions, not 200 containers. In `connection` mode every SSH connection gets
 * one container and each session channel on it is a `docker exec` there, so 20 connections × 10
 * sessions = 200 concurrent sessions in 20 containers (the same sessions-per-connection as
 * OpenSSH's default MaxSessions). The 200 are ssh2 clients in this process (200 OpenSSH
 * processes would measure the client more than the gateway); each session is one long-lived
 * `/bin/sh` fed one command line at a time, the line forking real programs in the container
 * (sha256sum, cut, sh) and reporting `$?`, with a pause between lines as a user would. Beside them,
 * two real OpenSSH clients multiplex new session channels (ControlMaster) in a loop, each its own
 * `docker exec` with its exit status through ssh. Short mode: 20 s of looping; long mode
 * (`npm run test:long`): 5 minutes.
 */
const CONNECTIONS = 20;
const SESSIONS_PER_CONNECTION = 10;
const OPENSSH_CONNECTIONS = 2;
const LOGIN_PARALLEL = 4;
const LOOP_MS = byMode(20_000, 300_000);
/** Think time between two commands of one session. */
const PAUSE_MS = 1_000;
/** A command line that has not answered by then is an error (the machine is shared and slow). */
const COMMAND_DEADLINE_MS = 90_000;
const MIB = 1024 * 1024;

/** One ssh2 connection to the gateway, logged in with a password. */
async function connect(world: World): Promise<ssh2.Client> {
  const client = new ssh2.Client();
  const ready = once(client, 'ready');
  client.connect({ host: '127.0.0.1', port: world.sshPort, username: world.username, password: world.password, readyTimeout: 120_000 });
  await Promise.race([ready, once(client, 'error').then(([error]) => Promise.reject(error as Error))]);
  return client;
}

function execChannel(client: ssh2.Client, command: string): Promise<ssh2.ClientChannel> {
  return new Promise((resolve, reject) => client.exec(command, (error, channel) => (error ? reject(error) : resolve(channel))));
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** A long-lived `/bin/sh` over one session channel; each `run` sends one line and checks its whole answer. */
class LoopingSession {
  private stdout = '';
  private stderr = '';
  private readonly exited: Promise<number | null>;
  private wake: (() => void) | undefined;

  constructor(private readonly channel: ssh2.ClientChannel) {
    channel.setEncoding('utf8');
    channel.stderr.setEncoding('utf8');
    channel.on('data', (chunk: string) => ((this.stdout += chunk), this.wake?.()));
    channel.stderr.on('data', (chunk: string) => ((this.stderr += chunk), this.wake?.()));
    this.exited = new Promise((resolve) => {
      let code: number | null = null;
      channel.on('exit', (exitCode: number | null) => (code = exitCode));
      channel.on('close', () => (resolve(code), this.wake?.()));
    });
  }

  /** Iteration `i`: a digest by two programs, a child's exit status, then `$?` as the last line. Returns the mismatch, if any. */
  async iterate(tag: string, i: number): Promise<string | undefined> {
    const token = `${tag}-${i}`;
    const status = i % 5;
    const marker = `#${i} `;
    const expected = `${digest(token)}\n${marker}${status}\n`;
    this.stdout = '';
    this.channel.write(`printf '%s' '${token}' | sha256sum | cut -c1-16; sh -c 'exit ${status}'; echo "${marker}$?"\n`);
    const deadline = Date.now() + COMMAND_DEADLINE_MS;
    let closed = false;
    void this.exited.then(() => (closed = true));
    while (!(this.stdout.includes(marker) && this.stdout.endsWith('\n')) && this.stderr === '' && !closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1_000);
        this.wake = () => (clearTimeout(timer), resolve());
      });
    }
    this.wake = undefined;
    if (this.stderr !== '') return `${token}: stderr ${JSON.stringify(this.stderr)}`;
    if (this.stdout !== expected) return `${token}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(this.stdout)}${closed ? ' (channel closed)' : ''}`;
    return undefined;
  }

  /** Ends the shell with `code`; resolves with the exit status ssh reported. */
  async exit(code: number): Promise<number | null> {
    this.channel.end(`exit ${code}\n`);
    return this.exited;
  }
}

interface Figures {
  commands: number;
  errors: string[];
}

/** Runs iterations with a pause until `until`, then exits with `exitCode` and checks that status. */
async function loop(session: LoopingSession, tag: string, until: number, exitCode: number, figures: Figures): Promise<void> {
  for (let i = 1; Date.now() < until; i += 1) {
    const mismatch = await session.iterate(tag, i);
    figures.commands += 1;
    if (mismatch) {
      figures.errors.push(mismatch);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, PAUSE_MS * (0.5 + Math.random())));
  }
  const status = await session.exit(exitCode);
  if (status !== exitCode) figures.errors.push(`${tag}: exit status ${status}, expected ${exitCode}`);
}

/** Real OpenSSH: each command a new session channel on one multiplexed connection. */
async function opensshLoop(connection: SharedConnection, tag: string, until: number, figures: Figures): Promise<void> {
  for (let i = 1; Date.now() < until; i += 1) {
    const token = `${tag}-${i}`;
    const result = await connection.run(`printf '%s' '${token}' | sha256sum | cut -c1-16; exit ${i % 4}`);
    figures.commands += 1;
    if (result.code !== i % 4 || result.stdout !== `${digest(token)}\n` || result.stderr !== '') {
      figures.errors.push(`${token}: code ${result.code}, stdout ${JSON.stringify(result.stdout)}, stderr ${JSON.stringify(result.stderr)}`);
      break;
    }
  }
}

function sample(text: string, name: string): number {
  const line = text.split('\n').find((entry) => entry.startsWith(`${name} `) || entry.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** Child processes of `pid` (ps itself excluded). */
async function childrenOf(pid: number): Promise<string[]> {
  const { stdout } = await run('ps', ['-o', 'pid=,comm=', '--ppid', String(pid)]).catch(() => ({ stdout: '' }));
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/\bps$/.test(line));
}

describe('load: 200 concurrent SSH sessions looping commands on the Docker backend', () => {
  test('200 sessions loop commands with zero errors; afterwards no container, connection, memory, handle or process is left', { timeout: byMode(600_000, 1_800_000) }, async (t) => {
    const { world } = await worldWithExecution(t, hardenedExecution({ mode: 'connection' }), {
      logLevel: 'info',
      // One user holds every connection here (22, past the default 20 per user): the load is the
      // point, and the per-user caps have their own test (test/e2e/pre-auth-flood.test.ts).
      gateway: { metrics: { listen: '127.0.0.1:0' }, ssh: { maxConnectionsPerUser: 1000, maxContainersPerUser: 1000 } },
    });
    const metricsPort = Number((await world.gateway.waitForCode('GATEWAY_OPS_LISTENING')).port);
    const scrape = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const startedAt = Date.now();
    // Warm up (code paths compiled, caches and pools filled), then take the baseline.
    const warm = await connect(world);
    const warmShell = new LoopingSession(await execChannel(warm, '/bin/sh'));
    assert.equal(await warmShell.iterate('warm', 1), undefined);
    assert.equal(await warmShell.exit(0), 0);
    warm.end();
    await once(warm, 'close');
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId, 60_000), [], 'the warm-up container is gone');
    let text = await pollUntilOrLast(scrape, { what: 'no open connection', until: (metrics) => sample(metrics, 'containerssh_ssh_current_connections') === 0, timeoutMs: 10_000, intervalMs: 250 });
    const baseline = { heap: sample(text, 'nodejs_heap_size_used_bytes'), rss: sample(text, 'process_resident_memory_bytes'), handles: sample(text, 'nodejs_active_handles_total') };

    // Open all 200 sessions and have each answer once before any loop starts: they are all open at once.
    // Logins four at a time, with the default webhook timeout: the load here is on sessions and
    // their containers; a burst of logins is test/load/login-burst.test.ts.
    const clients: ssh2.Client[] = [];
    t.after(() =>
      clients.forEach((client) => {
        client.end();
      }),
    );
    for (let c = 0; c < CONNECTIONS; c += LOGIN_PARALLEL) clients.push(...(await Promise.all(Array.from({ length: Math.min(LOGIN_PARALLEL, CONNECTIONS - c) }, () => connect(world)))));
    const figures: Figures = { commands: 0, errors: [] };
    const sessions = await Promise.all(
      clients.flatMap((client, c) =>
        Array.from({ length: SESSIONS_PER_CONNECTION }, async (_, s) => {
          const session = new LoopingSession(await execChannel(client, '/bin/sh'));
          const tag = `c${c}s${s}`;
          const mismatch = await session.iterate(tag, 0);
          figures.commands += 1;
          if (mismatch) figures.errors.push(mismatch);
          return { session, tag };
        }),
      ),
    );
    const openssh = await Promise.all(Array.from({ length: OPENSSH_CONNECTIONS }, () => openSharedConnection({ port: world.sshPort, username: world.username, password: world.password })));
    let opensshClosed: Promise<unknown> | undefined;
    const closeOpenssh = () => (opensshClosed ??= Promise.all(openssh.map((connection) => connection.close())));
    t.after(closeOpenssh);
    // A first command on each OpenSSH connection: its container is made in the background of the
    // login, so only a session that ran proves it exists.
    for (const [index, connection] of openssh.entries()) {
      const first = await connection.run('echo ready');
      assert.equal(first.stdout, 'ready\n', `OpenSSH connection ${index}: ${first.stderr}`);
    }
    const during = await scrape();
    assert.equal(sample(during, 'containerssh_ssh_current_connections'), CONNECTIONS + OPENSSH_CONNECTIONS, 'every connection is open at once');
    assert.equal((await listSessionContainers(world.instanceId)).length, CONNECTIONS + OPENSSH_CONNECTIONS, 'one container per connection');
    const openedMs = Date.now() - startedAt;

    const until = Date.now() + LOOP_MS;
    const opensshFigures: Figures = { commands: 0, errors: [] };
    await Promise.all([
      ...sessions.map(({ session, tag }, index) => loop(session, tag, until, index % 100, figures)),
      ...openssh.map((connection, index) => opensshLoop(connection, `openssh${index}`, until, opensshFigures)),
    ]);
    const peak = await scrape();
    await closeOpenssh();
    for (const client of clients) client.end();
    await Promise.all(clients.map((client) => once(client, 'close')));
    const loopedMs = Date.now() - startedAt;

    const errors = [...figures.errors, ...opensshFigures.errors];
    assert.deepEqual(errors.slice(0, 10), [], `${errors.length} command errors`);
    assert.ok(figures.commands >= sessions.length * 2, `every session looped (${figures.commands} commands)`);
    assert.ok(opensshFigures.commands >= OPENSSH_CONNECTIONS, `the OpenSSH clients looped (${opensshFigures.commands} sessions)`);
    // The gateway logs levels by name ("error"), pino's default is a number (50).
    const failures = world.gateway.logs.filter((line) => ['error', 'fatal'].includes(String(line.level)) || Number(line.level) >= 50);
    const webhookFailures = world.gateway.logs.filter((line) => /_BACKEND_ERROR$|^WEBHOOK_QUEUE_/.test(String(line.code)));
    assert.deepEqual(
      webhookFailures.map((line) => line.code),
      [],
      'no webhook call failed or was refused',
    );
    assert.deepEqual(
      failures.map((line) => line.code),
      [],
      'the gateway logged no error',
    );

    // Nothing is left: containers, connections, memory, handles, processes.
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId, 60_000), [], 'zero containers of this gateway left');
    text = await pollUntilOrLast(scrape, { what: 'no open connection', until: (metrics) => sample(metrics, 'containerssh_ssh_current_connections') === 0, timeoutMs: 30_000, intervalMs: 250 });
    assert.equal(sample(text, 'containerssh_ssh_current_connections'), 0, 'no connection left open');
    const heapBound = baseline.heap * 1.5 + 32 * MIB;
    const rssBound = baseline.rss + 160 * MIB;
    const handlesBound = baseline.handles + 5;
    // V8 collects lazily: give it some idle seconds (bounded in count) before judging.
    const settled = (metrics: string) => sample(metrics, 'nodejs_heap_size_used_bytes') <= heapBound && sample(metrics, 'nodejs_active_handles_total') <= handlesBound;
    if (!settled(text)) text = await pollUntilOrLast(scrape, { what: 'heap and handles back within bounds', until: settled, timeoutMs: 20_000, intervalMs: 500 });
    const now = { heap: sample(text, 'nodejs_heap_size_used_bytes'), rss: sample(text, 'process_resident_memory_bytes'), handles: sample(text, 'nodejs_active_handles_total') };
    const mib = (bytes: number) => (bytes / MIB).toFixed(1);
    const gatewayChildren = await childrenOf(world.gateway.process.pid!);
    const ourSsh = (await childrenOf(process.pid)).filter((line) => /\bssh$/.test(line));
    t.diagnostic(
      `${sessions.length} concurrent ssh2 sessions on ${CONNECTIONS} connections + ${OPENSSH_CONNECTIONS} OpenSSH connections, ${LOOP_MS / 1000} s loop: ` +
        `${figures.commands} shell commands + ${opensshFigures.commands} OpenSSH sessions, ${errors.length} errors; all open after ${openedMs} ms, done after ${loopedMs} ms; ` +
        `heap ${mib(baseline.heap)} → peak ${mib(sample(peak, 'nodejs_heap_size_used_bytes'))} → ${mib(now.heap)} MiB, ` +
        `RSS ${mib(baseline.rss)} → peak ${mib(sample(peak, 'process_resident_memory_bytes'))} → ${mib(now.rss)} MiB, handles ${baseline.handles} → ${now.handles}`,
    );
    assert.ok(now.heap <= heapBound, `heap ${mib(now.heap)} MiB back near the baseline ${mib(baseline.heap)} MiB`);
    assert.ok(now.rss <= rssBound, `RSS ${mib(now.rss)} MiB bounded over the baseline ${mib(baseline.rss)} MiB`);
    assert.ok(now.handles <= handlesBound, `active handles ${now.handles} back to the baseline ${baseline.handles}`);
    assert.deepEqual(gatewayChildren, [], 'the gateway has no child process');
    assert.deepEqual(ourSsh, [], 'no OpenSSH client left running');
  });
});
