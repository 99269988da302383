import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import ssh2 from 'ssh2';
import { byMode } from '../helpers/long-mode.ts';
import { runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { E2E } from '../helpers/deadlines.ts';
import { pollUntilOrLast } from '../helpers/poll-until.ts';

/**
 * Hostile bytes against the gateway's SSH listener, before key exchange (random bytes, a
 * version line then garbage, truncated packets, an endless line) and after it (garbage where
 * encrypted packets belong). The gateway must drop each such connection, keep serving a real
 * user meanwhile, and end with no connection open and its heap near where it started.
 */
const PRE_KEX_INPUTS = byMode(300, 5_000);
const POST_KEX_INPUTS = byMode(30, 500);
const PARALLEL = 8;
/** A connection the gateway has not closed by then is closed by us and counted as a hang. */
const CLOSE_WAIT_MS = 15_000;

/** One hostile opening: the bytes, and whether to half-close after sending them. */
const preKexInput = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 4_096 }).map((bytes) => Buffer.from(bytes)),
  fc.uint8Array({ maxLength: 2_048 }).map((bytes) => Buffer.concat([Buffer.from('SSH-2.0-fuzz\r\n'), Buffer.from(bytes)])),
  // A packet header announcing some length, then fewer bytes than announced (or a huge length).
  fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 512 })).map(([length, padding, body]) => {
    const header = Buffer.alloc(5);
    header.writeUInt32BE(length);
    header.writeUInt8(padding, 4);
    return Buffer.concat([Buffer.from('SSH-2.0-fuzz\r\n'), header, Buffer.from(body)]);
  }),
  // A version line cut short, or one that never ends.
  fc.nat({ max: 13 }).map((cut) => Buffer.from('SSH-2.0-fuzz\r\n'.slice(0, cut))),
  fc.integer({ min: 256, max: 65_536 }).map((length) => Buffer.from(`SSH-2.0-${'x'.repeat(length)}`)),
);

/** Resolves once the gateway closed `socket` (or after CLOSE_WAIT_MS, then true = it hung). */
function closedOrHung(socket: Socket): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(true);
    }, CLOSE_WAIT_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

async function sendPreKex(port: number, bytes: Buffer): Promise<boolean> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  const closed = closedOrHung(socket);
  socket.once('connect', () => {
    socket.write(bytes);
    socket.end();
  });
  return closed;
}

/** A real key exchange with ssh2's client, then garbage where the encrypted stream belongs. */
async function sendPostKex(port: number, garbage: Buffer): Promise<boolean> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const client = new ssh2.Client();
  client.on('error', () => undefined);
  const closed = closedOrHung(socket);
  client.once('handshake', () => {
    socket.write(garbage);
  });
  client.connect({ sock: socket, username: 'nobody', password: 'x', readyTimeout: CLOSE_WAIT_MS });
  const hung = await closed;
  client.end();
  return hung;
}

/** Runs `inputs` through `send` with PARALLEL at once; returns how many hung. */
async function drive<T>(inputs: T[], send: (input: T) => Promise<boolean>): Promise<number> {
  let hung = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < inputs.length) {
        const input = inputs[next++]!;
        if (await send(input)) hung += 1;
      }
    }),
  );
  return hung;
}

function sample(text: string, name: string): number {
  const line = text.split('\n').find((entry) => entry.startsWith(`${name} `) || entry.startsWith(`${name}{`));
  // A labelled counter has no sample until it first moves.
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('the SSH listener survives hostile bytes before and after key exchange', () => {
  let world: World;
  let metricsPort: number;
  before(async () => {
    // The parser is under test here, so every hostile connection must reach it: the early
    // drop and per-source limits (test/e2e/pre-auth-flood.test.ts) would refuse most first.
    world = await startWorld({ logLevel: 'info', gateway: { metrics: { listen: '127.0.0.1:0' }, ssh: { loginGraceTime: '10s', maxStartups: 100, perSourceMaxStartups: 100 } } });
    metricsPort = Number((await world.gateway.waitForCode('GATEWAY_OPS_LISTENING')).port);
  });
  after(() => world.stop());

  const scrape = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const login = () => runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'echo still-serving', timeoutMs: 60_000 });

  test('a client that connects and never sends its identification is dropped after the login grace time', E2E, async () => {
    const sockets = Array.from({ length: 3 }, () => {
      const socket = connect(world.sshPort, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.on('data', () => undefined);
      return socket;
    });
    // loginGraceTime is 10 s here; closedOrHung gives up after 15 s, so a hang fails the test.
    const hung = await Promise.all(sockets.map(closedOrHung));
    assert.deepEqual(hung, [false, false, false], 'the gateway closed every silent connection');
    const expired = world.gateway.logs.filter((line) => line.code === 'SSH_LOGIN_GRACE_EXPIRED' && line.stage === 'identification');
    assert.ok(expired.length >= 3, 'logged with SSH_LOGIN_GRACE_EXPIRED');
  });

  test('every hostile connection is dropped, a real user is served meanwhile, nothing stays open, the heap returns', { timeout: byMode(600_000, 3_600_000) }, async (t) => {
    // Warm up (first login compiles code paths and fills caches), then take the baseline.
    assert.equal((await login()).code, 0);
    const baseline = await scrape();
    const baseHeap = sample(baseline, 'nodejs_heap_size_used_bytes');

    const preInputs = fc.sample(preKexInput, { numRuns: PRE_KEX_INPUTS, seed: 4242 });
    const postInputs = Array.from({ length: POST_KEX_INPUTS }, (_, i) => randomBytes(1 + ((i * 977) % 4_096)));
    const [preHung, postHung, during] = await Promise.all([
      drive(preInputs, (bytes) => sendPreKex(world.sshPort, bytes)),
      drive(postInputs, (bytes) => sendPostKex(world.sshPort, bytes)),
      // A real user logs in while the listener is under attack.
      login(),
    ]);
    assert.equal(during.code, 0, `a real login during the fuzzing: ${during.stderr}`);
    assert.equal(during.stdout, 'still-serving\n');
    assert.equal(preHung, 0, 'no pre-KEX connection left hanging');
    assert.equal(postHung, 0, 'no post-KEX connection left hanging');
    assert.equal(world.gateway.process.exitCode, null, 'the gateway did not crash');
    assert.ok(!world.gateway.logs.some((line) => line.level === 'fatal'), 'no fatal log line');

    // Every connection is closed and counted out; the heap comes back near the baseline.
    const text = await pollUntilOrLast(scrape, { what: 'no open connection', until: (metrics) => sample(metrics, 'containerssh_ssh_current_connections') === 0, timeoutMs: 30_000, intervalMs: 250 });
    assert.equal(sample(text, 'containerssh_ssh_current_connections'), 0, 'no connection left open');
    const dropped = sample(text, 'containerssh_ssh_failed_handshakes_total') - sample(baseline, 'containerssh_ssh_failed_handshakes_total');
    assert.ok(dropped >= preInputs.length + postInputs.length, `each dropped connection is counted as a failed handshake (${dropped})`);
    assert.equal((await login()).code, 0, 'and it still serves afterwards');
    // V8 collects lazily: give it a few seconds of idle before judging.
    const heap = await pollUntilOrLast(async () => sample(await scrape(), 'nodejs_heap_size_used_bytes'), {
      what: 'the heap back near the baseline',
      until: (used) => used <= baseHeap * 1.5 + 32 * 1024 * 1024,
      timeoutMs: 10_000,
      intervalMs: 500,
    });
    const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
    t.diagnostic(`${preInputs.length} pre-KEX and ${postInputs.length} post-KEX hostile connections: 0 hung, 0 crashes; heap ${mib(baseHeap)} → ${mib(heap)} MiB`);
    assert.ok(heap <= baseHeap * 1.5 + 32 * 1024 * 1024, `heap ${mib(heap)} MiB returned near the baseline ${mib(baseHeap)} MiB`);
  });
});

describe('silent connections count toward maxStartups from the moment they are accepted', () => {
  let world: World;
  before(async () => {
    world = await startWorld({ logLevel: 'info', gateway: { ssh: { maxStartups: 2, loginGraceTime: '20s' } } });
  });
  after(() => world.stop());

  test('two silent connections fill maxStartups: a third connection is dropped at once, and a login works once they are gone', E2E, async () => {
    const silent = Array.from({ length: 2 }, () => {
      const socket = connect(world.sshPort, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.on('data', () => undefined);
      return socket;
    });
    await Promise.all(silent.map((socket) => new Promise((resolve) => socket.once('connect', resolve))));
    await world.gateway.waitForCode('SSH_AVAILABLE');
    // Accepting is asynchronous on the gateway's side: retry the third until it is refused, bounded.
    const refused = await pollUntilOrLast(
      async () => {
        const third = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'true', timeoutMs: 30_000 });
        return third.code === 255 && world.gateway.logs.some((line) => line.code === 'SSH_MAX_STARTUPS');
      },
      { what: 'a third connection dropped with SSH_MAX_STARTUPS', until: (dropped) => dropped, timeoutMs: 60_000, intervalMs: 0 },
    );
    assert.ok(refused, 'the third connection was dropped with SSH_MAX_STARTUPS');
    for (const socket of silent) socket.destroy();
    // Once the silent ones are gone, a user gets in again.
    const ok = await pollUntilOrLast(async () => (await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'true', timeoutMs: 30_000 })).code === 0, {
      what: 'a login once the silent connections closed',
      until: (loggedIn) => loggedIn,
      timeoutMs: 60_000,
      intervalMs: 0,
    });
    assert.ok(ok, 'a login works after the silent connections closed');
  });
});
