import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import ssh2 from 'ssh2';
import { E2E } from '../helpers/deadlines.ts';
import { logMark } from '../helpers/log-wait.ts';
import { pollUntil } from '../helpers/poll-until.ts';
import type { LogLine } from '../helpers/program.ts';
import { startWorld, type World } from '../helpers/world.ts';

/**
 * `workers: 2`: a primary that listens and counts, two workers that serve SSH. The no-op
 * backend (the benchmarks' gateway entry) keeps the file fast: what is under test is how
 * connections, limits, metrics and failures are shared between processes, not containers.
 * Budget: about 30 s on a quiet machine.
 */
describe('gateway with two worker processes (workers: 2)', () => {
  let world: World;
  let opsPort = 0;
  /** Every client made, with its close (already settled for one that closed). */
  const clients = new Map<ssh2.Client, Promise<unknown>>();
  before(async () => {
    world = await startWorld({
      gatewayEntry: 'bench/lib/noop-gateway.ts',
      workers: 2,
      gateway: {
        ssh: { maxConnectionsPerUser: 2, perSourceMaxStartups: 2 },
        metrics: { listen: '127.0.0.1:0' },
        health: { listen: '127.0.0.1:0' },
      },
    });
    opsPort = Number((await world.gateway.waitForCode('GATEWAY_OPS_LISTENING')).port);
  });
  after(async () => {
    for (const client of clients.keys()) client.end();
    await world.stop();
  });

  /** Logs in with the demo user's password; resolves with the client, or rejects with the banner the gateway showed. */
  const login = async (): Promise<ssh2.Client> => {
    const client = new ssh2.Client();
    // Not events.once: it would reject on the client's 'error'.
    clients.set(client, new Promise<void>((resolve) => client.once('close', () => resolve())));
    // ssh2 may report a refused login more than once; the first report settles the login.
    client.on('error', () => undefined);
    let banner = '';
    client.on('banner', (text: string) => (banner += text));
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve).once('error', (error: Error) => reject(new Error(`${error.message}: ${banner.trim()}`)));
      client.connect({ host: '127.0.0.1', port: world.sshPort, username: world.username, password: world.password, readyTimeout: 60_000 });
    });
    return client;
  };
  /** The worker (its `worker` log field) that logged the next successful login after `mark`. */
  const loginOn = async (mark: ReturnType<typeof logMark>): Promise<{ client: ssh2.Client; worker: number }> => {
    const client = await login();
    const line = await mark.next('SSH_HANDSHAKE_SUCCESSFUL');
    return { client, worker: Number(line.worker) };
  };
  /** An interactive shell on the no-op backend: it echoes what it is sent. */
  const shell = (client: ssh2.Client) => new Promise<ssh2.ClientChannel>((resolve, reject) => client.shell(false, (error, channel) => (error ? reject(error) : resolve(channel))));
  const echoes = async (channel: ssh2.ClientChannel, text: string) => {
    const got = new Promise<string>((resolve) => channel.once('data', (data: Buffer) => resolve(data.toString())));
    channel.write(text);
    return got;
  };
  const closeAll = async () => {
    for (const [client, closed] of clients) {
      client.end();
      await closed;
    }
    clients.clear();
  };
  const ops = async (path: string) => {
    const response = await fetch(`http://127.0.0.1:${opsPort}${path}`);
    return { status: response.status, body: await response.text() };
  };
  const workerLines = (code: string): LogLine[] => world.gateway.logs.filter((line) => line.code === code);

  test('connections are spread over both workers, and /metrics on the one ops listener sums them', E2E, async () => {
    const mark = logMark(world.gateway);
    const first = await loginOn(mark);
    const second = await loginOn(logMark(world.gateway));
    assert.notEqual(first.worker, second.worker, 'the second connection went to the worker holding fewer');
    assert.ok(first.worker > 0 && second.worker > 0, 'logins are served by workers (worker 0 is the primary)');
    const successes = workerLines('SSH_HANDSHAKE_SUCCESSFUL').length;
    const metrics = await pollUntil(() => ops('/metrics'), {
      what: 'summed handshake counter',
      until: (answer) => new RegExp(`^containerssh_ssh_successful_handshakes_total\\{country="XX"\\} ${successes}$`, 'm').test(answer.body),
      timeoutMs: 10_000,
      intervalMs: 200,
    });
    assert.match(metrics.body, /^portcullis_gateway_workers 2$/m);
    const health = await ops('/healthz');
    assert.equal(health.status, 200, health.body);
    assert.match(health.body, /workers/);
    await closeAll();
  });

  test('maxConnectionsPerUser holds across workers: two held on two workers, the third is refused', E2E, async () => {
    const a = await loginOn(logMark(world.gateway));
    const b = await loginOn(logMark(world.gateway));
    assert.notEqual(a.worker, b.worker);
    const refused = logMark(world.gateway);
    await assert.rejects(login(), /as many connections as allowed \(2\)\. \(SECURITY_MAX_CONNECTIONS_PER_USER\)/);
    await refused.next('SECURITY_MAX_CONNECTIONS_PER_USER');
    a.client.end();
    await clients.get(a.client);
    // The slot comes back once the worker reports the close to the primary.
    const again = await pollUntil(
      () =>
        login().then(
          (client) => client,
          () => undefined,
        ),
      { what: 'a login after a slot was freed', timeoutMs: 10_000, intervalMs: 200 },
    );
    assert.ok(again);
    await closeAll();
  });

  test('perSourceMaxStartups holds across workers: a third silent connection is dropped unserved', E2E, async () => {
    const identified = (socket: Socket) =>
      new Promise<string>((resolve) => {
        let seen = '';
        socket.on('data', (data: Buffer) => {
          seen += data.toString('latin1');
          if (seen.includes('\n')) resolve(seen.split('\r\n')[0]!);
        });
        socket.once('close', () => resolve(seen));
      });
    const refused = logMark(world.gateway);
    const silent = [connect(world.sshPort, '127.0.0.1'), connect(world.sshPort, '127.0.0.1')];
    try {
      // Each is served by a worker (which sends its identification) and holds a slot.
      for (const socket of silent) assert.equal(await identified(socket), 'SSH-2.0-Portcullis');
      const third = connect(world.sshPort, '127.0.0.1');
      silent.push(third);
      assert.equal(await identified(third), '', 'the primary closed it before any worker saw it');
      const line = await refused.next('SSH_PER_SOURCE_MAX_STARTUPS');
      assert.equal(line.worker, 0, 'counted and refused by the primary');
    } finally {
      for (const socket of silent) socket.destroy();
    }
  });

  test('a worker that dies is logged and replaced; the other worker keeps its session', E2E, async () => {
    // The startup slots of the silent connections are freed once their close reaches the primary.
    const doomed = await pollUntil(
      () =>
        loginOn(logMark(world.gateway)).then(
          (x) => x,
          () => undefined,
        ),
      { what: 'a login', timeoutMs: 10_000, intervalMs: 200 },
    );
    const survivor = await loginOn(logMark(world.gateway));
    assert.notEqual(doomed.worker, survivor.worker);
    const kept = await shell(survivor.client);
    const started = workerLines('GATEWAY_WORKER_STARTED').find((line) => line.workerId === doomed.worker);
    assert.ok(started, `the start line of worker ${doomed.worker}`);
    const mark = logMark(world.gateway);
    const doomedClosed = clients.get(doomed.client);
    process.kill(Number(started.pid), 'SIGKILL');
    const exited = await mark.next('GATEWAY_WORKER_EXITED');
    assert.equal(exited.workerId, doomed.worker);
    assert.equal(exited.signal, 'SIGKILL');
    await doomedClosed;
    assert.equal(await echoes(kept, 'still here\n'), 'still here\n', "the other worker's session is untouched");
    const replacement = await mark.next('GATEWAY_WORKER_STARTED');
    assert.notEqual(replacement.workerId, doomed.worker);
    const health = await pollUntil(() => ops('/healthz'), {
      what: 'healthy again',
      until: (answer) => answer.status === 200 && !/of 2 gateway workers/.test(answer.body),
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    assert.equal(health.status, 200);
    const fresh = await loginOn(logMark(world.gateway));
    assert.equal(fresh.worker, replacement.workerId, 'the replacement takes connections (it holds the fewest)');
    const metrics = await ops('/metrics');
    assert.match(metrics.body, /^portcullis_gateway_worker_exits_total 1$/m);
    await closeAll();
  });

  test('SIGTERM drains both workers: open connections close, every worker stops, the primary exits 0', E2E, async () => {
    const held = await login();
    const closed = clients.get(held);
    const exit = once(world.gateway.process, 'exit');
    world.gateway.process.kill('SIGTERM');
    await closed;
    const [code] = (await exit) as [number | null];
    assert.equal(code, 0);
    assert.equal(workerLines('GATEWAY_WORKER_STOPPED').length, 2);
  });
});

describe('two workers behind a load balancer (workers: 2, ssh.proxyProtocol)', () => {
  let world: World;
  before(async () => {
    world = await startWorld({
      gatewayEntry: 'bench/lib/noop-gateway.ts',
      workers: 2,
      gateway: { ssh: { perSourceMaxStartups: 2, proxyProtocol: { trustedProxies: ['127.0.0.3/32'], headerTimeout: '5s' } } },
    });
  });
  after(() => world.stop());

  /** A connection from the trusted balancer's address that starts with a v1 header naming `source`. */
  const viaBalancer = async (source: string, port: number) => {
    const socket = connect({ host: '127.0.0.1', port: world.sshPort, localAddress: '127.0.0.3' });
    await once(socket, 'connect');
    socket.write(`PROXY TCP4 ${source} 127.0.0.1 ${port} ${world.sshPort}\r\n`);
    return socket;
  };

  test('the header names the client a worker logs in, and the primary counts that client per source', E2E, async () => {
    const socket = await viaBalancer('203.0.113.7', 40001);
    const client = new ssh2.Client();
    client.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve).once('error', reject);
      client.connect({ sock: socket, username: world.username, password: world.password, readyTimeout: 60_000 });
    });
    client.end();
    const seen = world.authserver.logs.filter((line) => line.code === 'AUTHSERVER_PASSWORD_ACCEPTED').map((line) => line.remoteAddress);
    assert.deepEqual(seen.slice(-1), ['203.0.113.7:40001']);

    const refused = logMark(world.gateway);
    const silent = [await viaBalancer('198.51.100.9', 40002), await viaBalancer('198.51.100.9', 40003)];
    try {
      // Each is admitted and served (the worker sends its identification) before the third comes.
      for (const socket of silent) await once(socket, 'data');
      const third = await viaBalancer('198.51.100.9', 40004);
      silent.push(third);
      await once(third, 'close');
      const line = await refused.next('SSH_PER_SOURCE_MAX_STARTUPS');
      assert.equal(line.source, '198.51.100.9/32');
      assert.equal(line.worker, 0, 'counted by the primary for both workers');
    } finally {
      for (const socket of silent) socket.destroy();
    }
  });

  test('a peer that is not a trusted proxy is dropped by the primary before any worker sees it', E2E, async () => {
    const mark = logMark(world.gateway);
    const direct = connect(world.sshPort, '127.0.0.1');
    let received = 0;
    direct.on('data', (data: Buffer) => (received += data.length));
    await once(direct, 'close');
    assert.equal(received, 0, 'not even an SSH identification');
    const line = await mark.next('SSH_PROXY_UNTRUSTED');
    assert.equal(line.peer, '127.0.0.1');
    assert.equal(line.worker, 0);
  });
});
