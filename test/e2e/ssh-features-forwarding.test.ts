import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { CONTAINER_BACKENDS, backendWorld } from '../helpers/backend-world.ts';
import { exchange, hostServer } from '../helpers/forwarding.ts';
import { freePort } from '../helpers/ports.ts';
import { logMark } from '../helpers/log-wait.ts';
import { opensshInvocation, runSsh } from '../helpers/ssh-client.ts';
import type { World } from '../helpers/world.ts';
import { E2E_SLOW } from '../helpers/deadlines.ts';
import { pollUntil, pollUntilOrLast } from '../helpers/poll-until.ts';

const run = promisify(execFile);

const withForwarding = (forwarding?: Record<string, string>) => (forwarding ? { forwarding } : undefined);

interface Spawned {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  readonly closed: Promise<number | null>;
}

/** The real OpenSSH client with extra options, kept running until the test ends. */
async function spawnSsh(t: TestContext, world: World, extraArgs: string[], command: string, env: NodeJS.ProcessEnv = {}): Promise<Spawned> {
  const invocation = await opensshInvocation({ port: world.sshPort, username: world.username, password: world.password, extraArgs, command });
  const child = spawn('ssh', invocation.args, { env: { ...invocation.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await closed;
    await rm(invocation.dir, { recursive: true, force: true });
  });
  return { child, stdout: () => stdout, stderr: () => stderr, closed };
}

/** Retries `attempt` until it yields a non-empty answer (a listener on the far side may not be up yet). */
async function eventually(attempt: () => Promise<string>, spawned: Spawned, deadlineMs = 60_000): Promise<string> {
  return pollUntilOrLast(attempt, { what: 'an answer through the forward', until: (answer) => answer !== '' || spawned.child.exitCode !== null, timeoutMs: deadlineMs, intervalMs: 200 });
}

for (const backend of CONTAINER_BACKENDS) {
  test(`port, socket, agent and X11 forwarding inside the ${backend} session with the real OpenSSH client`, E2E_SLOW, async (t) => {
    const session = await backendWorld(t, backend);
    const { world, setSecurity } = session;
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-fwd-'));
    t.after(async () => {
      await rm(dir, { recursive: true, force: true });
      assert.deepEqual(await session.waitForNoSessions(), [], 'no session container or pod is left');
    });
    // A loopback service inside the container: answers "pong" to every connection.
    const pongLoop = (listen: string) => `echo up; for i in $(seq 20); do printf pong | nc -N ${listen} >/dev/null; done`;

    await t.test('-L: a TCP connection reaches a server on the container loopback', async (t) => {
      setSecurity(withForwarding({ forwardingMode: 'enable' }));
      const localPort = await freePort();
      const ssh = await spawnSsh(t, world, ['-L', `${localPort}:127.0.0.1:17777`], pongLoop('-l 127.0.0.1 17777'));
      assert.equal(await eventually(() => exchange(localPort, 'ping'), ssh), 'pong', ssh.stderr());
    });

    await t.test('-L: refused with a code when the policy disables forwarding', async (t) => {
      const log = logMark(world.gateway);
      setSecurity(withForwarding({ forwardingMode: 'disable' }));
      const localPort = await freePort();
      const ssh = await spawnSsh(t, world, ['-L', `${localPort}:127.0.0.1:17777`], pongLoop('-l 127.0.0.1 17777'));
      await log.next('SESSION_STARTED');
      const answer = await eventually(() => exchange(localPort, 'ping'), ssh, 3_000);
      assert.equal(answer, '');
      await log.next('SECURITY_FORWARDING_REJECTED');
    });

    await t.test('-D: curl through the SOCKS proxy reaches an HTTP server inside the container', async (t) => {
      setSecurity(withForwarding({ forwardingMode: 'enable' }));
      const socksPort = await freePort();
      const http = `printf 'HTTP/1.0 200 OK\\r\\nContent-Length: 11\\r\\n\\r\\nhello socks' | nc -N -l 127.0.0.1 17778 >/dev/null`;
      const ssh = await spawnSsh(t, world, ['-D', `127.0.0.1:${socksPort}`], `echo up; for i in $(seq 20); do ${http}; done`);
      const curl = () =>
        run('curl', ['-s', '--max-time', '10', '--socks5-hostname', `127.0.0.1:${socksPort}`, 'http://127.0.0.1:17778/']).then(
          ({ stdout }) => stdout,
          () => '',
        );
      assert.equal(await eventually(curl, ssh), 'hello socks', ssh.stderr());
    });

    await t.test('-R: a connection to a port inside the container reaches a server on the test host', async (t) => {
      setSecurity(withForwarding({ reverseForwardingMode: 'enable' }));
      const server = await hostServer(t, 'host');
      const hostPort = (server.address() as AddressInfo).port;
      const ssh = await spawnSsh(
        t,
        world,
        ['-o', 'ExitOnForwardFailure=yes', '-R', `17779:127.0.0.1:${hostPort}`],
        'for i in $(seq 100); do out=$(printf ping | nc -N 127.0.0.1 17779 2>/dev/null); [ -n "$out" ] && break; sleep 0.2; done; echo "got:$out"',
      );
      assert.equal(await ssh.closed, 0, ssh.stderr());
      assert.equal(ssh.stdout(), 'got:host:ping\n');
    });

    await t.test('-R: refused when the policy does not enable remote forwarding', async (t) => {
      const log = logMark(world.gateway);
      setSecurity(withForwarding({ forwardingMode: 'enable' }));
      const ssh = await spawnSsh(t, world, ['-o', 'ExitOnForwardFailure=yes', '-R', '17779:127.0.0.1:9'], 'echo should-not-run');
      assert.equal(await ssh.closed, 255);
      assert.match(ssh.stderr(), /remote port forwarding failed/);
      await log.next('SECURITY_REVERSE_FORWARDING_REJECTED');
    });

    await t.test('Unix sockets both ways: -L to a socket in the container, -R from one', async (t) => {
      setSecurity(withForwarding({ socketForwardingMode: 'enable', socketListenMode: 'enable' }));
      const local = join(dir, 'local.sock');
      const hostSocket = join(dir, 'host.sock');
      await hostServer(t, 'host-unix', hostSocket);
      const ssh = await spawnSsh(
        t,
        world,
        ['-o', 'ExitOnForwardFailure=yes', '-L', `${local}:/tmp/container.sock`, '-R', `/tmp/reverse.sock:${hostSocket}`],
        // OpenSSH starts the command without waiting for the forward's reply: retry until it listens.
        `for i in $(seq 100); do out=$(printf ping | nc -N -U /tmp/reverse.sock 2>/dev/null); [ -n "$out" ] && break; sleep 0.2; done; echo "reverse:$out"; ${pongLoop('-l -U /tmp/container.sock')}`,
      );
      assert.equal(await eventually(() => exchange(local, 'ping'), ssh), 'pong', ssh.stderr());
      assert.match(ssh.stdout(), /^reverse:host-unix:ping\n/);
    });

    await t.test('Unix socket forwarding is refused when the policy leaves it off', async (t) => {
      const log = logMark(world.gateway);
      setSecurity(withForwarding({ forwardingMode: 'enable' }));
      const local = join(dir, 'refused.sock');
      const ssh = await spawnSsh(t, world, ['-L', `${local}:/tmp/container.sock`], pongLoop('-l -U /tmp/container.sock'));
      await log.next('SESSION_STARTED');
      assert.equal(await eventually(() => exchange(local, 'ping'), ssh, 3_000), '');
      await log.next('SECURITY_FORWARDING_REJECTED');
    });

    await t.test('-A: ssh-add -l inside the container lists the client agent keys; refused without the policy', async (t) => {
      const log = logMark(world.gateway);
      const agentSocket = join(dir, 'agent.sock');
      const agent = spawn('ssh-agent', ['-D', '-a', agentSocket], { stdio: 'ignore' });
      t.after(() => agent.kill('SIGTERM'));
      await pollUntil(
        () =>
          stat(agentSocket).then(
            () => true,
            () => false,
          ),
        { what: 'ssh-agent to create its socket', timeoutMs: 10_000, intervalMs: 50 },
      );
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'forwarded-key', '-f', join(dir, 'key')]);
      await run('ssh-add', [join(dir, 'key')], { env: { ...process.env, SSH_AUTH_SOCK: agentSocket } });
      const login = (extra: string[]) =>
        runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'ssh-add -l; echo "[$SSH_AUTH_SOCK]"', extraArgs: extra, timeoutMs: 60_000 });
      setSecurity(withForwarding({ agentForwardingMode: 'enable' }));
      const allowed = await withAgent(agentSocket, () => login(['-A']));
      assert.match(allowed.stdout, /^256 SHA256:\S+ forwarded-key \(ED25519\)$/m, allowed.stderr);
      assert.match(allowed.stdout, /\[\/tmp\/portcullis-agent-[0-9a-f]+\.sock\]/);
      setSecurity(withForwarding());
      const refused = await withAgent(agentSocket, () => login(['-A']));
      assert.doesNotMatch(refused.stdout, /forwarded-key/);
      assert.match(refused.stdout, /\[\]/);
      await log.next('SECURITY_AGENT_FORWARDING_REJECTED');
    });

    await t.test('-X: DISPLAY is set and a connection to it reaches the client X11 socket (stub server, no xauth)', async (t) => {
      const log = logMark(world.gateway);
      // A stub X server on the test host: the client's display. It answers the first bytes it gets.
      let received: Buffer = Buffer.alloc(0);
      let display = 0;
      let stub: Server | undefined;
      for (let candidate = 50; candidate < 100 && !stub; candidate += 1) {
        const server = createServer((socket) => {
          socket.once('data', (chunk: Buffer) => {
            received = chunk;
            socket.end('X11-STUB-OK');
          });
          socket.on('error', () => undefined);
        });
        server.listen(6000 + candidate, '127.0.0.1');
        const listening = await Promise.race([once(server, 'listening').then(() => true), once(server, 'error').then(() => false)]);
        if (listening) {
          stub = server;
          display = candidate;
        }
      }
      assert.ok(stub, 'no free X display port for the stub');
      t.after(() => stub!.close());
      // An X client inside the container: an X11 connection setup (little-endian, protocol 11.0)
      // carrying MIT-MAGIC-COOKIE-1 from ~/.Xauthority, which the gateway wrote as sshd's xauth would.
      const xClient = [
        'echo "display=$DISPLAY"',
        'cookie=$(od -An -tx1 -v "$HOME/.Xauthority" | tr -d " \\n" | tail -c 32)',
        'name=$(printf MIT-MAGIC-COOKIE-1 | od -An -tx1 -v | tr -d " \\n")',
        'hex="6c000b000000120010000000${name}0000${cookie}"',
        'd=${DISPLAY#*:}; d=${d%.*}',
        'exec 3<>/dev/tcp/127.0.0.1/$((6000 + d))',
        'for ((i = 0; i < ${#hex}; i += 2)); do printf "\\x${hex:i:2}"; done >&3',
        'echo "reply=$(head -c 11 <&3)"',
        '',
      ].join('\n');
      const x11Login = () =>
        withEnv('DISPLAY', `127.0.0.1:${display}`, () =>
          runSsh({
            port: world.sshPort,
            username: world.username,
            password: world.password,
            command: 'bash -s',
            stdin: xClient,
            // Trusted: untrusted forwarding needs xauth on the client to make a cookie.
            extraArgs: ['-X', '-o', 'ForwardX11Trusted=yes'],
            timeoutMs: 60_000,
          }),
        );
      setSecurity(withForwarding({ x11ForwardingMode: 'enable' }));
      const allowed = await x11Login();
      assert.match(allowed.stdout, /^display=localhost:\d+\.0$/m, allowed.stderr);
      assert.match(allowed.stdout, /^reply=X11-STUB-OK$/m, allowed.stderr);
      assert.equal(received.subarray(0, 1).toString('latin1'), 'l', 'the stub got the X11 connection setup');
      setSecurity(withForwarding());
      const refused = await x11Login();
      assert.match(refused.stdout, /^display=$/m);
      await log.next('SECURITY_X11_FORWARDING_REJECTED');
    });
  });
}

/** Sets one environment variable of this process (runSsh passes it on to ssh) while `body` runs. */
async function withEnv<T>(name: string, value: string, body: () => Promise<T>): Promise<T> {
  const before = process.env[name];
  process.env[name] = value;
  try {
    return await body();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}

/** runSsh takes its environment from process.env: point SSH_AUTH_SOCK at the test agent meanwhile. */
async function withAgent<T>(socket: string, body: () => Promise<T>): Promise<T> {
  const before = process.env.SSH_AUTH_SOCK;
  process.env.SSH_AUTH_SOCK = socket;
  try {
    return await body();
  } finally {
    if (before === undefined) delete process.env.SSH_AUTH_SOCK;
    else process.env.SSH_AUTH_SOCK = before;
  }
}
