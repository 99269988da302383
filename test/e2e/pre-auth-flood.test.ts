import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { after, before, describe, test, type TestContext } from 'node:test';
import ssh2 from 'ssh2';
import { listSessionContainers, waitForNoSessionContainers } from '../helpers/docker.ts';
import { logMark } from '../helpers/log-wait.ts';
import { watchResources } from '../helpers/resource-watch.ts';
import { runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { E2E_SLOW } from '../helpers/deadlines.ts';

interface ProtocolInternals {
  session(channel: number, window: number, packetSize: number): void;
  _packetRW: { write: { allocStart: number; alloc(size: number): Buffer; finalize(packet: Buffer): Buffer } };
}

interface ClientInternals {
  _chanMgr: { add(handler: ((error: Error | undefined) => void) & { type?: string }): number };
  _protocol: ProtocolInternals;
}

const { sendPacket } = createRequire(import.meta.url)('ssh2/lib/protocol/utils.js') as { sendPacket(protocol: ProtocolInternals, packet: Buffer): void };

/** Sends SSH_MSG_IGNORE (RFC 4253 §11.2) carrying `data`; ssh2's client has no call for it. */
function sendIgnore(client: ssh2.Client, data: Buffer): void {
  const protocol = (client as unknown as ClientInternals)._protocol;
  const writer = protocol._packetRW.write;
  const at = writer.allocStart;
  const packet = writer.alloc(1 + 4 + data.length);
  packet[at] = 2; // SSH_MSG_IGNORE
  packet.writeUInt32BE(data.length, at + 1);
  packet.set(data, at + 5);
  sendPacket(protocol, writer.finalize(packet));
}

/**
 * Opens a session channel and asks for nothing on it, as a channel flood does; ssh2's client
 * has no public call for that (exec, shell and subsys each also start a program).
 */
function openBareSession(client: ssh2.Client): Promise<boolean> {
  return new Promise((resolve) => {
    const internals = client as unknown as ClientInternals;
    const handler = Object.assign((error: Error | undefined) => resolve(!error), { type: 'session' });
    const channel = internals._chanMgr.add(handler);
    if (channel === -1) return resolve(false);
    internals._protocol.session(channel, 2 * 1024 * 1024, 32 * 1024);
  });
}

/**
 * One hostile client on 127.0.0.2 against the gateway's limits before and just after login,
 * while a bystander on 127.0.0.1 logs in and works. Nothing is exempt from penalties here:
 * the bystander gets in because limits are counted per source, not because it is trusted.
 */
const ATTACKER = '127.0.0.2';
const PER_SOURCE = 5;

describe('one client cannot exhaust the gateway for everyone else', () => {
  let world: World;
  let keyDir: string;
  before(async () => {
    keyDir = await mkdtemp(join(tmpdir(), 'portcullis-flood-keys-'));
    await promisify(execFile)('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'id_ed25519')]);
    world = await startWorld({
      authorizedKeys: [(await readFile(join(keyDir, 'id_ed25519.pub'), 'utf8')).trim()],
      // Debug, so protocol errors are visible and the log-size bound holds at the chattiest level.
      logLevel: 'debug',
      // The machine is shared; a webhook answer slower than the default 5 s is not what this tests.
      webhookTimeout: '30s',
      gateway: {
        ssh: {
          loginGraceTime: '8s',
          perSourceMaxStartups: PER_SOURCE,
          perSourcePenalties: { exempt: [] },
          // ssh.maxSessions is left at its default (10), which the channel flood checks.
          maxConnectionsPerUser: 3,
        },
      },
    });
  });
  after(async () => {
    await rm(keyDir, { recursive: true, force: true });
    await world.stop();
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId), [], 'no session container is left');
  });

  /** The bystander's login and one command, timed; must succeed. */
  const bystander = async (t: TestContext, during: string) => {
    const started = performance.now();
    const result = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'echo bystander-ok', extraArgs: ['-b', '127.0.0.1'], timeoutMs: 60_000 });
    const seconds = (performance.now() - started) / 1000;
    t.diagnostic(`bystander from 127.0.0.1 during ${during}: login + command in ${seconds.toFixed(2)} s`);
    assert.equal(result.code, 0, `the bystander logs in during ${during}: ${result.stderr}`);
    assert.equal(result.stdout, 'bystander-ok\n');
    return seconds;
  };

  /** An ssh2 client from `localAddress`; resolves with it once ready, or rejects with why not. */
  const sshClient = (config: ssh2.ConnectConfig & { localAddress?: string }): Promise<ssh2.Client> =>
    new Promise((resolve, reject) => {
      const client = new ssh2.Client();
      client.once('ready', () => resolve(client));
      // The gateway's refusal line arrives as an auth banner: keep it for the error.
      let banner = '';
      client.on('banner', (text: string) => (banner += text));
      // ssh2 may report more than one error for a refused connection; the first decides.
      client.on('error', (error: Error) => reject(new Error(`${error.message}${banner ? `: ${banner.trim()}` : ''}`)));
      client.once('close', () => reject(new Error('closed before login')));
      const socket = connect({ host: '127.0.0.1', port: world.sshPort, localAddress: config.localAddress ?? '127.0.0.1' });
      socket.on('error', () => undefined);
      client.connect({ sock: socket, readyTimeout: 30_000, ...config });
    });

  test('100 idle TCP connections from one address hold at most its per-source share; the bystander logs in; after grace expiry the address is refused', E2E_SLOW, async (t) => {
    const mark = logMark(world.gateway);
    const fromLine = world.gateway.logs.length;
    const sockets: Socket[] = Array.from({ length: 100 }, () => {
      const socket = connect({ host: '127.0.0.1', port: world.sshPort, localAddress: ATTACKER });
      socket.on('error', () => undefined);
      socket.on('data', () => undefined);
      return socket;
    });
    t.after(() =>
      sockets.forEach((socket) => {
        socket.destroy();
      }),
    );
    const closedAt = sockets.map((socket) => once(socket, 'close').then(() => true));
    await mark.next('SSH_PER_SOURCE_MAX_STARTUPS');
    // The refused ones close at once; wait (bounded) until only the admitted remain open.
    const deadline = Date.now() + 10_000;
    while (sockets.filter((socket) => !socket.destroyed && !socket.closed).length > PER_SOURCE && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const open = sockets.filter((socket) => !socket.closed).length;
    assert.equal(open, PER_SOURCE, `the source holds its share of ${PER_SOURCE} idle connections, no more (and no fewer: nothing else closes them)`);

    await bystander(t, '100 idle connections from 127.0.0.2');

    // The held ones are cut when the login grace time expires, and that earns a penalty.
    await Promise.all(closedAt);
    await mark.atLeast('SSH_LOGIN_GRACE_EXPIRED', open);
    const expired = world.gateway.logs.slice(fromLine).filter((line) => line.code === 'SSH_LOGIN_GRACE_EXPIRED' && String(line.remoteAddress).endsWith(ATTACKER));
    assert.ok(expired.length >= open, `each held connection of ${ATTACKER} expired: ${JSON.stringify(expired)}`);
    const retry = connect({ host: '127.0.0.1', port: world.sshPort, localAddress: ATTACKER });
    retry.on('error', () => undefined);
    let received = 0;
    retry.on('data', (chunk: Buffer) => (received += chunk.length));
    await once(retry, 'close');
    const admissions = () =>
      JSON.stringify(world.gateway.logs.slice(fromLine).filter((line) => /^SSH_(LOGIN_GRACE_EXPIRED|SOURCE_PENALIZED|PER_SOURCE_MAX_STARTUPS|MAX_STARTUPS)$/.test(String(line.code))));
    assert.equal(received, 0, `a penalised source gets no SSH identification, only a closed socket; the gateway logged: ${admissions()}`);
    const refused = await mark.next('SSH_SOURCE_PENALIZED');
    assert.equal(refused.source, `${ATTACKER}/32`);
    assert.ok(Number(refused.retryAfterSeconds) >= 15, `refused for ${String(refused.retryAfterSeconds)} s`);
    await bystander(t, 'the penalty of 127.0.0.2');
  });

  test('wrong passwords from 127.0.0.6 penalise it: its passwords, the right one too, are refused unheard, its right key logs in at once; the bystander logs in', E2E_SLOW, async (t) => {
    const address = '127.0.0.6';
    const ssh = (options: { password?: string; identityFile?: string }) =>
      runSsh({ port: world.sshPort, username: world.username, ...options, command: 'echo in', extraArgs: ['-b', address], timeoutMs: 60_000 });
    const mark = logMark(world.gateway);
    // Each connection that fails its logins earns the source 5 s; from 15 s its passwords are refused.
    // Five at once, so that the time they take does not run the penalty down below 15 s.
    for (const result of await Promise.all(Array.from({ length: 5 }, (_, i) => ssh({ password: `wrong-${i}` })))) assert.equal(result.code, 255);
    const authFrom = world.authserver.logs.length;
    const right = await ssh({ password: world.password });
    assert.equal(right.code, 255, 'the right password waits out the penalty at the guessing address');
    const refused = await mark.next('SSH_SOURCE_PENALIZED');
    assert.equal(refused.method, 'password');
    assert.ok(Number(refused.retryAfterSeconds) >= 10, `passwords refused for ${String(refused.retryAfterSeconds)} s`);
    assert.ok(
      !world.authserver.logs.slice(authFrom).some((line) => line.code === 'AUTHSERVER_PASSWORD_ACCEPTED' || line.code === 'AUTHSERVER_PASSWORD_REJECTED'),
      'no refused password reached the authserver',
    );
    const keyed = await ssh({ identityFile: join(keyDir, 'id_ed25519') });
    assert.equal(keyed.code, 0, `the right key logs in from the penalised address: ${keyed.stderr}`);
    assert.equal(keyed.stdout, 'in\n');
    await bystander(t, `the password penalty of ${address}`);
  });

  test('plain zlib (compression before login) is refused at key exchange; after login a packet that inflates past 256 KiB ends that connection only', E2E_SLOW, async (t) => {
    await assert.rejects(
      sshClient({ localAddress: '127.0.0.3', username: world.username, password: world.password, algorithms: { compress: ['zlib'] } }),
      /compression/i,
      'a client that insists on zlib from the first byte gets no session',
    );
    const client = await sshClient({ localAddress: '127.0.0.1', username: world.username, password: world.password, algorithms: { compress: ['zlib@openssh.com'] } });
    const closed = once(client, 'close');
    // 4 MiB of zeros deflates to a few KB: one IGNORE packet the gateway must not inflate whole.
    sendIgnore(client, Buffer.alloc(4 * 1024 * 1024));
    await closed;
    const inflateError = () => world.gateway.logs.find((line) => line.code === 'SSH_CONNECTION_ERROR' && /exceeded maximum of 262144/.test(JSON.stringify(line.error)));
    for (const end = Date.now() + 10_000; !inflateError() && Date.now() < end; ) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(inflateError(), 'the gateway stopped inflating at 256 KiB and closed that connection');
    assert.equal(world.gateway.process.exitCode, null, 'the gateway is still running');
    await bystander(t, 'an inflate bomb');
  });

  test('300 logins with a 30,000-character user name: none reaches a webhook, every log line stays short, the bystander logs in', E2E_SLOW, async (t) => {
    const mark = logMark(world.gateway);
    const fromLine = world.gateway.logs.length;
    const authFrom = world.authserver.logs.length;
    const longName = 'n'.repeat(30_000);
    let next = 0;
    const flood = Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < 300) {
          next += 1;
          await sshClient({ localAddress: '127.0.0.4', username: longName, password: 'x' }).then(
            (client) => client.end(),
            () => undefined,
          );
        }
      }),
    );
    const [, seconds] = await Promise.all([flood, bystander(t, '300 logins with a 30,000-character name')]);
    assert.ok(seconds < 60);
    await mark.next('AUTH_USERNAME_TOO_LONG');
    const lines = world.gateway.logs.slice(fromLine).map((line) => JSON.stringify(line));
    const longest = Math.max(...lines.map((line) => line.length));
    const total = lines.reduce((sum, line) => sum + line.length, 0);
    t.diagnostic(`gateway log during the flood: ${lines.length} lines, ${total} bytes, longest ${longest} bytes`);
    assert.ok(longest < 2_000, `the longest log line is ${longest} bytes`);
    assert.ok(total < 300 * 2_000, `the flood cost ${total} bytes of log`);
    assert.ok(!world.authserver.logs.slice(authFrom).some((line) => JSON.stringify(line).includes('nnnnnnnnnn')), 'the authserver never saw the name');
  });

  test("2,000 session channels on one connection: the default 10 open, the rest are refused, the gateway's memory stays flat, the connection and the bystander keep working", E2E_SLOW, async (t) => {
    const mark = logMark(world.gateway);
    const client = await sshClient({ localAddress: '127.0.0.5', username: world.username, password: world.password });
    t.after(async () => {
      const closed = once(client, 'close');
      client.end();
      await closed;
    });
    let connectionClosed = false;
    client.once('close', () => (connectionClosed = true));
    const watch = await watchResources(world.gateway.process.pid!);
    const [outcomes] = await Promise.all([Promise.all(Array.from({ length: 2_000 }, () => openBareSession(client))), bystander(t, '2,000 session channels on one connection from 127.0.0.5')]);
    const { rssBytes } = await watch.stop();
    const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
    t.diagnostic(`2,000 channel opens: ${outcomes.filter(Boolean).length} open; gateway RSS ${mib(rssBytes.before)} → at most ${mib(rssBytes.max)} MiB`);
    assert.equal(outcomes.filter(Boolean).length, 10, 'ssh.maxSessions (default 10) channels are open');
    assert.ok((await mark.atLeast('SECURITY_MAX_SESSIONS', 1)) >= 1);
    assert.ok(rssBytes.max - rssBytes.before < 64 * 1024 * 1024, `the gateway grew from ${mib(rssBytes.before)} to ${mib(rssBytes.max)} MiB`);
    assert.equal(connectionClosed, false, 'the flooding connection itself is still open: only its extra channels were refused');
  });

  test('five connections as one user with a cap of 3: the fourth and fifth are refused with a line naming the code; 3 containers at most', E2E_SLOW, async (t) => {
    // Start from no open connection: each login is counted until its close reaches the gateway.
    const openConnections = () =>
      world.gateway.logs.filter((line) => line.code === 'SSH_HANDSHAKE_SUCCESSFUL').length -
      world.gateway.logs.filter((line) => line.code === 'SSH_DISCONNECTED' && line.username !== undefined).length;
    for (const end = Date.now() + 15_000; openConnections() > 0 && Date.now() < end; ) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(openConnections(), 0, 'no earlier connection is still open');
    const held: ssh2.Client[] = [];
    t.after(() =>
      held.forEach((client) => {
        client.end();
      }),
    );
    for (let i = 0; i < 3; i += 1) held.push(await sshClient({ username: world.username, password: world.password }));
    for (let i = 0; i < 2; i += 1) {
      const refused = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'true', timeoutMs: 60_000 });
      assert.equal(refused.code, 255);
      assert.match(refused.stderr, /SECURITY_MAX_CONNECTIONS_PER_USER/);
    }
    const containers = await listSessionContainers(world.instanceId);
    assert.ok(containers.length <= 3, `${containers.length} containers for one user`);
  });
});
