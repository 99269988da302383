import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { AuditConfigSchema } from '@portcullis/wire';
import { decodeBinaryLog } from '../format/binary-log.ts';
import { ConnectionRecorder } from './connection-recorder.ts';
import { FileRecordingStore } from '../store/file-store.ts';
import { MESSAGE_TYPES, STREAMS } from '../format/message-types.ts';
import { openSource, verifyStreams } from '../format/recording-reader.ts';
import type { RecordingStore, StreamWriter } from '../store/recording-store.ts';

const CONNECTION_ID = 'fedcba9876543210fedcba9876543210';
const log = pino({ level: 'silent' });
const HIGH_WATER = 256 * 1024;
const CHUNK = 32 * 1024;
const TOTAL = 4 * 1024 * 1024;

async function tempDir(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-backpressure-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A store whose appends wait for the test: `hold()` stops them, `release()` lets them through
 * (each one a tick late, a slow disk), `breakIt()` makes them fail, `stall()` never answers.
 */
class SlowStore implements RecordingStore {
  readonly kind = 'file' as const;
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => undefined;
  private mode: 'slow' | 'broken' | 'stalled' = 'slow';

  constructor(private readonly inner: FileRecordingStore) {}

  hold() {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }
  release() {
    this.open();
  }
  breakIt() {
    this.mode = 'broken';
    this.open();
  }
  stall() {
    this.mode = 'stalled';
  }

  check() {
    return this.inner.check();
  }
  async openStream(key: string, format: Parameters<RecordingStore['openStream']>[1]): Promise<StreamWriter> {
    const writer = await this.inner.openStream(key, format);
    return {
      append: async (chunk) => {
        await this.gate;
        if (this.mode === 'broken') throw new Error('disk gone');
        if (this.mode === 'stalled') return new Promise<void>(() => undefined);
        await new Promise((resolve) => setImmediate(resolve));
        await writer.append(chunk);
      },
      close: () => writer.close(),
      abandon: () => writer.abandon?.(),
    };
  }
  putObject: RecordingStore['putObject'] = (...args) => this.inner.putObject(...args);
  list: RecordingStore['list'] = (options) => this.inner.list(options);
  read: RecordingStore['read'] = (key) => this.inner.read(key);
  recover = () => this.inner.recover();
  close = () => this.inner.close();
}

function recorder(store: RecordingStore, failures: string[], stallTimeoutMs?: number) {
  return new ConnectionRecorder({
    identity: { connectionId: CONNECTION_ID, remoteAddress: '127.0.0.1:5555' },
    storeFor: () => store,
    flushIntervalMs: 60_000,
    maxChunkBytes: 64 * 1024,
    maxPendingBytes: HIGH_WATER,
    ...(stallTimeoutMs !== undefined ? { stallTimeoutMs } : {}),
    log,
    onFailure: (reason) => failures.push(reason),
    onRequiredFailure: () => failures.push('ended'),
  });
}

/** The session's plumbing: `source` piped on to a sink, as the gateway pipes a channel to a program. */
function plumbing() {
  const source = new PassThrough();
  let delivered = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      delivered += chunk.length;
      done();
    },
  });
  source.pipe(sink);
  return { source, delivered: () => delivered };
}

/**
 * A producer that honours back-pressure, like an SSH client whose window closes: writes while
 * the source accepts, waits for `drain` otherwise. Resolves with the bytes written.
 */
function produce(source: PassThrough, total: number, fill: number): { done: Promise<void>; written: () => number; waiting: () => boolean } {
  let written = 0;
  let waiting = false;
  const done = (async () => {
    while (written < total) {
      const ok = source.write(Buffer.alloc(CHUNK, fill));
      written += CHUNK;
      if (!ok) {
        waiting = true;
        await new Promise((resolve) => source.once('drain', resolve));
        waiting = false;
      }
    }
    source.end();
  })();
  return { done, written: () => written, waiting: () => waiting };
}

/** Lets every pending callback run (no timers involved, so no fixed sleep). */
async function settle(rounds = 50) {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function recordedBytes(dir: string, stream: number) {
  const [id] = (await readdir(dir)).filter((name) => !name.startsWith('.'));
  const { messages } = decodeBinaryLog(await readFile(join(dir, id!, 'audit.cslog')));
  const verdicts = await verifyStreams(await openSource(join(dir, id!)));
  assert.ok(
    verdicts.every((verdict) => verdict.ok && verdict.complete),
    JSON.stringify(verdicts),
  );
  return messages.filter((message) => message.type === MESSAGE_TYPES.io && message.payload!.stream === stream).reduce((sum, message) => sum + (message.payload!.data as Uint8Array).length, 0);
}

async function waitUntil(check: () => boolean, what: string) {
  const end = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A recorded session channel (a shell, or `command`) over a SlowStore, with the stream the test drives and what reached the program. */
async function recordedChannel(t: TestContext, recording: 'best-effort' | 'required', options: { command?: string; stallTimeoutMs?: number } = {}) {
  const dir = await tempDir(t);
  const store = new SlowStore(new FileRecordingStore(dir));
  const failures: string[] = [];
  const tap = recorder(store, failures, options.stallTimeoutMs);
  await tap.configure(AuditConfigSchema.parse({ recording }));
  const channel = tap.channel('session');
  if (options.command === undefined) channel.request('shell');
  else channel.request('exec', { command: options.command });
  return { dir, store, failures, tap, channel, ...plumbing() };
}

for (const direction of ['stdin', 'stdout'] as const) {
  test(`a slow store pauses the session's ${direction} at the bound and loses nothing once it catches up`, async (t) => {
    const { dir, store, failures, tap, channel, source, delivered } = await recordedChannel(t, 'best-effort', { command: 'cat > /dev/null' });
    const other = new PassThrough();
    channel.streams(direction === 'stdin' ? { stdin: source, stdout: other } : { stdin: other, stdout: source });

    store.hold();
    const producer = produce(source, TOTAL, 0x61);
    await waitUntil(() => producer.waiting() && source.isPaused(), 'the source to be paused with the producer waiting');
    await settle();
    // Held at the bound: what got through is the bound, one chunk being built, and the stream buffers.
    const bound = HIGH_WATER + 64 * 1024 + 4 * CHUNK;
    assert.ok(delivered() <= bound, `${delivered()} bytes passed a store that stored nothing (bound ${bound})`);
    assert.ok(producer.written() < TOTAL / 4, 'the producer is held back');

    store.release();
    await producer.done;
    await waitUntil(() => delivered() === TOTAL, 'every byte to reach the program');
    channel.close();
    await tap.close();
    assert.deepEqual(failures, [], 'a slow store is no failure');
    assert.equal(await recordedBytes(dir, STREAMS[direction]), TOTAL, 'every byte is in the recording');
  });
}

test('best-effort: a store that breaks while the session waits releases it; the session runs on, the failure counted', async (t) => {
  const { store, failures, tap, channel, source, delivered } = await recordedChannel(t, 'best-effort');
  channel.streams({ stdin: source, stdout: new PassThrough() });
  store.hold();
  const producer = produce(source, TOTAL, 0x62);
  await waitUntil(() => producer.waiting() && source.isPaused(), 'the source to be paused');
  store.breakIt();
  await producer.done;
  await waitUntil(() => delivered() === TOTAL, 'every byte to reach the program');
  channel.close();
  await tap.close();
  assert.deepEqual(failures, ['write']);
});

for (const recording of ['best-effort', 'required'] as const) {
  test(`${recording}: a store that stores nothing while the session waits counts as failed after the stall timeout`, async (t) => {
    const { store, failures, tap, channel, source, delivered } = await recordedChannel(t, recording, { stallTimeoutMs: 200 });
    channel.streams({ stdin: new PassThrough(), stdout: source as Readable as PassThrough });
    store.stall();
    const producer = produce(source, TOTAL, 0x63);
    await waitUntil(() => failures.length > 0, 'the stall to be reported');
    assert.deepEqual(failures, recording === 'required' ? ['write', 'ended'] : ['write']);
    if (recording === 'required') {
      // Nothing more flows unrecorded: the stream stays stopped (no pipe left to resume it) while the connection ends.
      await settle();
      const stoppedAt = delivered();
      assert.ok(stoppedAt < TOTAL, `delivery stopped at ${stoppedAt} of ${TOTAL} bytes`);
      assert.equal(source.readableFlowing, false, 'the source is paused');
      assert.equal(producer.waiting(), true, 'the producer waits, as an SSH client whose window stays shut');
      await settle();
      assert.equal(delivered(), stoppedAt, 'and it does not start again');
      source.destroy();
    } else {
      await producer.done;
      await waitUntil(() => delivered() === TOTAL, 'the session to be released');
    }
    channel.close();
    await tap.close();
  });
}
