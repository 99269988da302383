import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import ssh2, { Client, type ClientChannel } from 'ssh2';
import type { BackendConnection, BackendSession, ExitStatus, SessionProgram } from '../backends/index.ts';
import { createLogger } from '../observability/index.ts';
import type { FaultStage } from '../channel/channel-guard.ts';
import { handleSessionChannel } from './session-channel.ts';

/** A program the test drives: what it prints, when it ends. */
interface FakeProgram {
  readonly program: SessionProgram;
  readonly stdout: PassThrough;
  readonly stderr: PassThrough;
  readonly stdin: PassThrough;
  end(status: ExitStatus): void;
  /** Whether the gateway tore the program's streams down (a hangup). */
  readonly destroyed: () => boolean;
  readonly resizes: Array<{ cols: number; rows: number }>;
}

/** A backend with no container: each session is a program the test writes for. */
function fakeBackend(): { connection: BackendConnection; programs: FakeProgram[]; started: Promise<FakeProgram> } {
  const programs: FakeProgram[] = [];
  let notify: (program: FakeProgram) => void = () => undefined;
  const started = new Promise<FakeProgram>((resolve) => (notify = resolve));
  const connection: BackendConnection = {
    startSession: async (program) => {
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      const stdin = new PassThrough();
      let finish!: (status: ExitStatus) => void;
      const exited = new Promise<ExitStatus>((resolve) => (finish = resolve));
      const resizes: Array<{ cols: number; rows: number }> = [];
      let destroyed = false;
      const fake: FakeProgram = {
        destroyed: () => destroyed,
        program,
        stdout,
        stderr,
        stdin,
        resizes,
        end: (status) => {
          stdout.end();
          stderr.end();
          finish(status);
        },
      };
      programs.push(fake);
      notify(fake);
      const session: BackendSession = {
        stdin,
        stdout,
        stderr,
        exited,
        resize: async (cols, rows) => {
          resizes.push({ cols, rows });
          await new Promise((resolve) => setTimeout(resolve, 5));
        },
        destroy: () => {
          destroyed = true;
          fake.end({ exitCode: 255 });
        },
      };
      return session;
    },
    close: async () => undefined,
  };
  return { connection, programs, started };
}

/** An ssh2 server that hands every session channel to handleSessionChannel, as the gateway does. */
async function sessionServer(t: TestContext, connection: BackendConnection) {
  const hostKey = ssh2.utils.generateKeyPairSync('ed25519').private;
  const faults: FaultStage[] = [];
  // Compression on both sides, as Dropbear negotiates it: the write-after-close crash needed it.
  const algorithms = { compress: ['zlib@openssh.com', 'zlib', 'none'] as ssh2.CompressionAlgorithm[] };
  const server = new ssh2.Server({ hostKeys: [hostKey], algorithms }, (client) => {
    const gone = new AbortController();
    client.once('end', () => gone.abort());
    client.once('close', () => gone.abort());
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => ctx.accept());
    client.on('ready', () =>
      client.on('session', (accept) =>
        handleSessionChannel(accept(), {
          backend: Promise.resolve(connection),
          environment: {},
          log: createLogger('silent'),
          connectionGone: gone.signal,
          onFault: (stage) => faults.push(stage),
        }),
      ),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const clients: Client[] = [];
  // Clients first: the server's close waits for every connection to end.
  t.after(async () => {
    for (const client of clients) client.end();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as { port: number }).port;
  const connect = async (): Promise<Client> => {
    const client = new Client();
    clients.push(client);
    client.on('error', () => undefined);
    client.connect({ host: '127.0.0.1', port, username: 'user', password: 'x', algorithms });
    await once(client, 'ready');
    return client;
  };
  return { connect, faults };
}

function exec(client: Client, command: string, options: { pty?: { cols: number; rows: number } } = {}): Promise<ClientChannel> {
  return new Promise((resolve, reject) => client.exec(command, options.pty ? { pty: { term: 'xterm', ...options.pty } } : {}, (error, channel) => (error ? reject(error) : resolve(channel))));
}

test('a slow reader gets every byte of stdout and stderr, then the exit status, however long its window stays shut', { timeout: 20_000 }, async (t) => {
  const backend = fakeBackend();
  const { connect, faults } = await sessionServer(t, backend.connection);
  const client = await connect();
  const channel = await exec(client, 'bulk');
  const program = await backend.started;
  // The client reads nothing for now: its window closes and the output waits in the gateway.
  channel.pause();
  channel.stderr.pause();
  const chunk = Buffer.alloc(64 * 1024, 1);
  const total = 8 * 1024 * 1024;
  // (stderr only at the end: ssh2's client opens the shared window for stderr even while paused.)
  const written = (async () => {
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (!program.stdout.write(chunk)) await once(program.stdout, 'drain');
    }
    program.stderr.write('e'.repeat(8));
    program.end({ exitCode: 3 });
  })();
  let exitCode: number | undefined;
  channel.on('exit', (code: number) => (exitCode = code));
  // Long enough for the window to close and for a wrong flush to give up or send the status early.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.equal(exitCode, undefined, 'no exit status while output is still waiting');
  let received = 0;
  let stderr = '';
  channel.on('data', (data: Buffer) => (received += data.length));
  channel.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
  channel.resume();
  channel.stderr.resume();
  await written;
  await once(channel, 'close');
  assert.equal(received, total);
  assert.equal(stderr, 'e'.repeat(8));
  assert.equal(exitCode, 3);
  assert.deepEqual(faults, []);
});

test('a connection that drops mid-output is contained: no exception escapes, the program is hung up', { timeout: 20_000 }, async (t) => {
  const backend = fakeBackend();
  const { connect } = await sessionServer(t, backend.connection);
  const escaped: unknown[] = [];
  const record = (error: unknown) => escaped.push(error);
  process.on('uncaughtException', record);
  t.after(() => process.off('uncaughtException', record));
  const client = await connect();
  await exec(client, 'bulk');
  const program = await backend.started;
  program.stdout.write(Buffer.alloc(256 * 1024));
  // The client's socket goes away at once, with output pending and more coming.
  (client as unknown as { _sock: { destroy(): void } })._sock.destroy();
  for (let i = 0; i < 20; i += 1) {
    program.stdout.write(Buffer.alloc(32 * 1024));
    program.stderr.write('more\n');
    await new Promise((resolve) => setImmediate(resolve));
  }
  const end = Date.now() + 5_000;
  while (!program.destroyed()) {
    assert.ok(Date.now() < end, 'the program was never hung up');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // The program ends after the client is gone: nothing of its end may reach ssh2.
  program.end({ exitCode: 0 });
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(escaped, []);
});

test('window-change requests: the program starts at the pty size, later sizes are coalesced and the last one wins', { timeout: 20_000 }, async (t) => {
  const backend = fakeBackend();
  const { connect } = await sessionServer(t, backend.connection);
  const client = await connect();
  const channel = await exec(client, 'tui', { pty: { cols: 100, rows: 30 } });
  const program = await backend.started;
  assert.deepEqual({ cols: program.program.pty?.cols, rows: program.program.pty?.rows }, { cols: 100, rows: 30 });
  for (let i = 0; i < 2_000; i += 1) channel.setWindow(10 + (i % 40), 50 + (i % 90), 0, 0);
  channel.setWindow(33, 111, 0, 0);
  const end = Date.now() + 10_000;
  while (JSON.stringify(program.resizes.at(-1)) !== JSON.stringify({ cols: 111, rows: 33 })) {
    assert.ok(Date.now() < end, `the last size never arrived: ${JSON.stringify(program.resizes.slice(-3))}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.ok(program.resizes.length < 200, `${program.resizes.length} resize calls for 2,001 requests`);
  program.end({ exitCode: 0 });
});
