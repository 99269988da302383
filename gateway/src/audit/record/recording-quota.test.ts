import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { AuditConfigSchema } from '@portcullis/wire';
import { isGatewayError } from '../../errors.ts';
import { parseAsciicast } from '../format/asciicast.ts';
import { decodeBinaryLog } from '../format/binary-log.ts';
import { ConnectionRecorder } from './connection-recorder.ts';
import { FileRecordingStore } from '../store/file-store.ts';
import { MESSAGE_TYPES } from '../format/message-types.ts';
import { RecordingQuota } from './recording-quota.ts';

const log = pino({ level: 'silent' });
const MIB = 1024 * 1024;

async function tempDir(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-quota-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function recorder(dir: string, quota: RecordingQuota, events: string[]) {
  return new ConnectionRecorder({
    identity: { connectionId: 'fedcba9876543210fedcba9876543210', remoteAddress: '127.0.0.1:5555' },
    storeFor: () => new FileRecordingStore(dir),
    flushIntervalMs: 60_000,
    maxChunkBytes: 256 * 1024,
    log,
    onFailure: (reason) => events.push(reason),
    onRequiredFailure: () => events.push('ended'),
    quota,
  });
}

/** A terminal session whose program prints `bytes` of incompressible output. */
async function floodedSession(dir: string, quota: RecordingQuota, recording: 'required' | 'best-effort', bytes: number) {
  const events: string[] = [];
  const tap = recorder(dir, quota, events);
  await tap.configure(AuditConfigSchema.parse({ recording }));
  const channel = tap.channel('session');
  channel.request('pty', { term: 'xterm', cols: 80, rows: 24 });
  channel.request('exec', { command: 'head -c 300000000 /dev/urandom' });
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  channel.streams({ stdin, stdout });
  for (let sent = 0; sent < bytes; sent += 64 * 1024) stdout.write(randomBytes(64 * 1024));
  channel.exit({ exitCode: 0 });
  channel.close();
  await tap.close();
  const [id] = (await readdir(dir)).filter((name) => !name.startsWith('.'));
  return { events, folder: join(dir, id!) };
}

async function folderBytes(folder: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(folder)) total += (await stat(join(folder, name))).size;
  return total;
}

test('a session printing 8 MiB under a 1 MiB quota: the recording stops near 1 MiB and says so, the session runs on (best-effort)', async (t) => {
  const dir = await tempDir(t);
  const quota = new RecordingQuota({ maxRecordingBytes: MIB, minFreeBytes: 0, directory: dir });
  const { events, folder } = await floodedSession(dir, quota, 'best-effort', 8 * MIB);
  assert.deepEqual(events, ['quota'], 'counted once, and the session was not ended');
  // The quota counts what both streams take (binary log and asciicast), plus their chain indexes.
  assert.ok((await folderBytes(folder)) < 1.25 * MIB, `recording takes ${await folderBytes(folder)} bytes`);
  const { messages } = decodeBinaryLog(await readFile(join(folder, 'audit.cslog')));
  const stopped = messages.find((message) => message.type === MESSAGE_TYPES.recordingStopped);
  assert.deepEqual(stopped?.payload, { reason: 'quota', scope: 'session', maxRecordingBytes: MIB });
  assert.deepEqual(
    messages.slice(messages.indexOf(stopped!) + 1).map((message) => message.type),
    [MESSAGE_TYPES.disconnect],
    'after the stop only the disconnect',
  );
  const cast = parseAsciicast((await readFile(join(folder, 'channel-0.cast'))).toString('utf8'));
  assert.match(String(cast.events.at(-1)?.[2]), /recording stopped: quota reached/);
});

test('under required, reaching the quota ends the connection', async (t) => {
  const dir = await tempDir(t);
  const quota = new RecordingQuota({ maxRecordingBytes: MIB, minFreeBytes: 0, directory: dir });
  const { events } = await floodedSession(dir, quota, 'required', 2 * MIB);
  assert.deepEqual(events, ['quota', 'ended']);
});

test('below the free-space reserve a required recording refuses the login; a running one stops with scope volume', async (t) => {
  const dir = await tempDir(t);
  let free = 10 * MIB;
  const quota = new RecordingQuota(
    { maxRecordingBytes: 100 * MIB, minFreeBytes: 5 * MIB, directory: dir },
    async () => free,
    () => Date.now(),
  );
  free = 1 * MIB;
  const events: string[] = [];
  await assert.rejects(recorder(dir, quota, events).configure(AuditConfigSchema.parse({ recording: 'required' })), (error) => isGatewayError(error) && error.code === 'AUDIT_STORAGE_UNAVAILABLE');

  free = 10 * MIB;
  let now = 0;
  const running = new RecordingQuota(
    { maxRecordingBytes: 100 * MIB, minFreeBytes: 5 * MIB, directory: dir },
    async () => free,
    () => now,
  );
  const tap = recorder(dir, running, events);
  await tap.configure(AuditConfigSchema.parse({ recording: 'best-effort' }));
  assert.equal(tap.withinQuota(1_000), true);
  free = 1 * MIB;
  now = 5_000;
  tap.withinQuota(1_000); // starts the background probe
  for (let i = 0; i < 100 && tap.withinQuota(1); i += 1) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(tap.withinQuota(1), false, 'stopped once the probe saw the volume below its reserve');
  await tap.close();
});
