import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough, type Duplex } from 'node:stream';
import { test } from 'node:test';
import type { BackendConnection, BackendSession, ExitStatus } from '../backends/index.ts';
import { listenThroughAgent } from './guest-agent.ts';

const FRAME = { READY: 0, OPEN: 1, DATA: 2 } as const;

function frame(type: number, id: number, payload: Buffer | string = Buffer.alloc(0), declared?: number): Buffer {
  const body = Buffer.from(payload);
  const head = Buffer.alloc(9);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(id, 1);
  head.writeUInt32BE(declared ?? body.length, 5);
  return Buffer.concat([head, body]);
}

/** A guest agent whose output the test writes, as a container's program could shape it. */
function fakeAgent() {
  const stdout = new PassThrough();
  let destroyed = false;
  let exit!: (status: ExitStatus) => void;
  const session: BackendSession = {
    stdin: new PassThrough(),
    stdout,
    stderr: new PassThrough(),
    exited: new Promise((resolve) => (exit = resolve)),
    resize: async () => undefined,
    destroy: () => {
      destroyed = true;
      exit({ exitCode: 0 });
    },
  };
  const connection = { runHelper: async () => session } as unknown as BackendConnection;
  return { connection, stdout, destroyed: () => destroyed };
}

async function byteByByte(stream: PassThrough, bytes: Buffer): Promise<void> {
  for (let at = 0; at < bytes.length; at += 1) {
    stream.write(bytes.subarray(at, at + 1));
    // Each byte its own read on the gateway's side, as a program writing a byte at a time gets.
    if (at % 512 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

test('frames sent a byte at a time are read whole: the listener starts and a connection gets its data', { timeout: 20_000 }, async () => {
  const agent = fakeAgent();
  const accepted: Duplex[] = [];
  const listening = listenThroughAgent(agent.connection, { host: '127.0.0.1', port: 0 }, (stream) => accepted.push(stream));
  await byteByByte(agent.stdout, frame(FRAME.READY, 0, '40123'));
  const listener = await listening;
  assert.equal(listener.bound, '40123');
  const data = Buffer.alloc(32 * 1024, 9);
  await byteByByte(agent.stdout, Buffer.concat([frame(FRAME.OPEN, 7, '10.0.0.2 5000'), frame(FRAME.DATA, 7, data)]));
  assert.equal(accepted.length, 1);
  const [received] = (await once(accepted[0]!, 'data')) as [Buffer];
  assert.deepEqual(received, data);
  listener.close();
});

test('a frame longer than the agent ever sends is refused at once, before its bytes are waited for', { timeout: 20_000 }, async () => {
  const agent = fakeAgent();
  const listening = listenThroughAgent(agent.connection, { host: '127.0.0.1', port: 0 }, () => assert.fail('no connection expected'));
  agent.stdout.write(frame(FRAME.READY, 0, '', 1024 * 1024 * 1024).subarray(0, 9));
  await assert.rejects(listening, /the guest agent sent a frame of 1073741824 bytes \(at most 32768\)/);
  assert.ok(agent.destroyed(), 'the agent is stopped');
});

test('a listener already up that gets an oversized frame is closed and reported, once', { timeout: 20_000 }, async () => {
  const agent = fakeAgent();
  const broken: Error[] = [];
  const listening = listenThroughAgent(
    agent.connection,
    { host: '127.0.0.1', port: 0 },
    () => assert.fail('no connection expected'),
    (error) => broken.push(error),
  );
  agent.stdout.write(frame(FRAME.READY, 0, '40123'));
  await listening;
  agent.stdout.write(frame(FRAME.DATA, 7, '', 64 * 1024).subarray(0, 9));
  agent.stdout.write(frame(FRAME.DATA, 7, '', 64 * 1024).subarray(0, 9));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(
    broken.map((error) => error.message),
    ['the guest agent sent a frame of 65536 bytes (at most 32768)'],
  );
  assert.ok(agent.destroyed(), 'the agent is stopped');
});

test("a connection that is not read stops the agent's output instead of being buffered; reading it lets the rest through", { timeout: 20_000 }, async () => {
  const agent = fakeAgent();
  const accepted: Duplex[] = [];
  const listening = listenThroughAgent(agent.connection, { host: '127.0.0.1', port: 0 }, (stream) => accepted.push(stream));
  agent.stdout.write(frame(FRAME.READY, 0, '40124'));
  const listener = await listening;
  agent.stdout.write(frame(FRAME.OPEN, 3, '10.0.0.3 5001'));
  const piece = Buffer.alloc(32 * 1024, 5);
  const frames = 64;
  for (let i = 0; i < frames; i += 1) agent.stdout.write(frame(FRAME.DATA, 3, piece));
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(agent.stdout.isPaused(), 'the agent is no longer read while its connection is not');
  const waiting = agent.stdout.writableLength + agent.stdout.readableLength;
  assert.ok(waiting > (frames * piece.length) / 2, `most of the 2 MiB waits on the agent's side: ${waiting} bytes`);
  let received = 0;
  for await (const chunk of accepted[0]!) {
    received += (chunk as Buffer).length;
    if (received === frames * piece.length) break;
  }
  assert.equal(received, frames * piece.length);
  listener.close();
});
