import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { AuditConfigSchema } from '@portcullis/wire';
import { formatOverviewTable, parseSince } from '../tools/cli/list-format.ts';
import { ConnectionRecorder } from '../record/connection-recorder.ts';
import { FileRecordingStore } from '../store/file-store.ts';
import type { RecordingStore } from '../store/recording-store.ts';
import { encodeMessage, fileHeader, HEADER_LENGTH } from './binary-log.ts';
import { MESSAGE_TYPES } from './message-types.ts';
import { listOverviews, OverviewCache, summarizeRecording } from './recording-summary.ts';
import { pollUntilOrLast } from '../../../../test/helpers/poll-until.ts';

async function tempDir(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-summary-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Records one session of `username` from `address` that prints `output` and exits with `exitCode`. */
async function recordSession(store: FileRecordingStore, connectionId: string, username: string, address: string, output: string, exitCode: number, close = true) {
  const tap = new ConnectionRecorder({
    identity: { connectionId, remoteAddress: address },
    storeFor: () => store,
    // An open recording flushes soon, as the gateway does every few seconds; a closed one flushes at close.
    flushIntervalMs: close ? 60_000 : 20,
    maxChunkBytes: 64,
    log: pino({ level: 'silent' }),
    onRequiredFailure: () => undefined,
  });
  tap.authAttempt({ method: 'password', username, password: Buffer.from('x'), outcome: 'accepted' });
  await tap.configure(AuditConfigSchema.parse({ recording: 'required' }));
  tap.handshake(true, username);
  const channel = tap.channel('session');
  channel.request('shell');
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  channel.streams({ stdin, stdout });
  stdin.write('ls\r');
  stdout.write(output);
  await new Promise((resolve) => setImmediate(resolve));
  channel.exit({ exitCode });
  if (!close) return tap;
  channel.close();
  await tap.close();
  return tap;
}

test('a recording summary names the user, address, bytes, exit status and state an auditor looks for', async (t) => {
  const dir = await tempDir(t);
  const store = new FileRecordingStore(dir);
  await recordSession(store, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'alice', '192.0.2.7:50000', 'x'.repeat(1500), 3);
  const { recordings } = await store.list({ limit: 10 });
  const overview = await summarizeRecording(store, recordings[0]!);
  assert.equal(overview.user, 'alice', 'handshakeSuccessful carries the SSH username');
  assert.equal(overview.address, '192.0.2.7:50000');
  assert.equal(overview.bytesIn, 3);
  assert.equal(overview.bytesOut, 1500);
  assert.deepEqual(overview.exitStatus, ['3']);
  assert.equal(overview.state, 'complete');
  assert.ok(overview.durationSeconds !== null && overview.durationSeconds >= 0 && overview.durationSeconds < 30);
  assert.ok(Math.abs(Date.parse(overview.start) - Date.now()) < 60_000, overview.start);
  const table = formatOverviewTable([overview]);
  assert.match(table, /^ID\s+USER\s+ADDRESS\s+START\s+DURATION\s+IN\s+OUT\s+EXIT\s+STATE\n/);
  assert.match(table, /\balice\s+192\.0\.2\.7:50000\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+\S+\s+3\s+1\.5K\s+3\s+complete\n$/);

  // Changed after the fact: the chain no longer matches.
  const folder = join(dir, recordings[0]!.id);
  await appendFile(join(folder, 'audit.cslog'), 'tampered');
  assert.equal((await summarizeRecording(store, recordings[0]!)).state, 'damaged');
});

test('an open recording is listed as recording, and filters pick by user and start time', async (t) => {
  const dir = await tempDir(t);
  const store = new FileRecordingStore(dir);
  await recordSession(store, 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'bob', '127.0.0.1:1', 'hello', 0);
  const open = await recordSession(store, 'cccccccccccccccccccccccccccccccc', 'carol', '127.0.0.1:2', 'hi', 0, false);
  t.after(() => open.close());
  const all = await pollUntilOrLast(() => listOverviews(store, { limit: 10, filter: {} }), {
    what: "carol's open recording listed",
    until: (listed) => listed.overviews.some((o) => o.user === 'carol'),
    timeoutMs: 5_000,
    intervalMs: 50,
  });
  assert.deepEqual(all.overviews.map((o) => o.user).sort(), ['bob', 'carol']);
  assert.equal(all.overviews.find((o) => o.user === 'carol')?.state, 'recording');
  assert.deepEqual(
    (await listOverviews(store, { limit: 10, filter: { user: 'bob' } })).overviews.map((o) => o.user),
    ['bob'],
  );
  assert.deepEqual(
    (await listOverviews(store, { limit: 10, filter: { search: 'CAR' } })).overviews.map((o) => o.user),
    ['carol'],
  );
  assert.equal((await listOverviews(store, { limit: 10, filter: { since: new Date(Date.now() + 3_600_000) } })).overviews.length, 0);
  assert.equal((await listOverviews(store, { limit: 10, filter: { since: new Date(Date.now() - 3_600_000) } })).overviews.length, 2);
  const first = await listOverviews(store, { limit: 1, filter: {} });
  assert.equal(first.overviews.length, 1);
  assert.ok(first.next, 'a next page');
  const second = await listOverviews(store, { limit: 1, after: first.next!, filter: {} });
  assert.notEqual(second.overviews[0]?.id, first.overviews[0]?.id);
  assert.equal((await readdir(dir)).filter((name) => !name.startsWith('.')).length, 2);
});

test('--since takes an ISO time or an age and refuses anything else', () => {
  const now = Date.parse('2026-12-06T18:00:00Z');
  assert.equal(parseSince('30m', now)?.toISOString(), '2026-12-06T17:30:00.000Z');
  assert.equal(parseSince('7d', now)?.toISOString(), '2026-11-29T18:00:00.000Z');
  assert.equal(parseSince('2026-12-06T17:00Z', now)?.toISOString(), '2026-12-06T17:00:00.000Z');
  assert.equal(parseSince('yesterday', now), null);
  assert.equal(parseSince('2026-13-45', now), null);
});

test('the overview cache decodes a sealed recording once, and an open one every time', async (t) => {
  const dir = await tempDir(t);
  const store = new FileRecordingStore(dir);
  await recordSession(store, 'dddddddddddddddddddddddddddddddd', 'dave', '127.0.0.1:3', 'out', 0);
  let reads = 0;
  const counting = Object.assign(Object.create(store) as FileRecordingStore, { read: (key: string) => ((reads += 1), store.read(key)) });
  const cache = new OverviewCache();
  const first = await listOverviews(counting, { limit: 10, filter: {}, cache });
  const afterFirst = reads;
  const second = await listOverviews(counting, { limit: 10, filter: {}, cache });
  assert.deepEqual(second.overviews, first.overviews);
  assert.equal(reads, afterFirst, 'no second read of a sealed recording');
  assert.equal(first.overviews[0]?.user, 'dave');
});

test('a recording being written is listed as recording at any moment of a chunk write; a changed byte is damage', async (t) => {
  const dir = await tempDir(t);
  const store = new FileRecordingStore(dir);
  await recordSession(store, 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee', 'erin', '127.0.0.1:4', 'output', 0);
  const [recording] = (await store.list({ limit: 10 })).recordings;
  const log = join(dir, recording!.id, 'audit.cslog');
  const chain = `${log}.chain`;
  // As while the connection goes on: the index has no end entry yet.
  const lines = (await readFile(chain, 'utf8')).split('\n').filter((line) => line !== '');
  await writeFile(
    chain,
    lines
      .filter((line) => !line.includes('"kind":"end"'))
      .map((line) => `${line}\n`)
      .join(''),
  );
  assert.equal((await summarizeRecording(store, recording!)).state, 'recording');
  // Just opened: the index has its start entry, the log not even its header yet.
  const [full, fullIndex] = [await readFile(log), await readFile(chain, 'utf8')];
  await writeFile(log, '');
  await writeFile(chain, `${lines[0]}\n`);
  assert.equal((await summarizeRecording(store, recording!)).state, 'recording');
  await writeFile(log, full);
  await writeFile(chain, fullIndex);
  // The next chunk's bytes are stored; its index entry is not, yet.
  await appendFile(log, Buffer.alloc(100, 0x42));
  const overview = await summarizeRecording(store, recording!);
  assert.equal(overview.state, 'recording');
  assert.equal(overview.user, 'erin', 'what the index covers still decodes');
  // Its index entry is half written.
  await appendFile(chain, '{"kind":"chunk","offset":');
  assert.equal((await summarizeRecording(store, recording!)).state, 'recording');
  // A byte the index covers is changed: damage, open or not.
  const bytes = await readFile(log);
  bytes[HEADER_LENGTH + 5]! ^= 0xff;
  await writeFile(log, bytes);
  assert.equal((await summarizeRecording(store, recording!)).state, 'damaged');
});

test('a chunk stored between reading the log and its index does not make an open recording look damaged', async (t) => {
  const dir = await tempDir(t);
  const store = new FileRecordingStore(dir);
  const id = '20261207T080000Z-ffffffffffffffff';
  const key = `${id}/audit.cslog`;
  const message = (type: number, payload: Record<string, unknown>) => gzipSync(encodeMessage({ connectionId: 'f'.repeat(32), timestamp: 1n, type, payload, channelId: null }));
  const writer = await store.openStream(key, 'containerssh-binary');
  t.after(() => writer.close());
  await writer.append([fileHeader(), message(MESSAGE_TYPES.handshakeSuccessful, { username: 'fay' })]);
  // The session writes its next chunk (bytes, then index entry) once the reader's first read is
  // done and before its second one: whichever of the log and the index is read first.
  let firstReadDone!: () => void;
  const firstRead = new Promise<void>((resolve) => (firstReadDone = resolve));
  let reads = 0;
  const racing = Object.create(store, {
    read: {
      value: async (name: string) => {
        reads += 1;
        if (reads === 1) {
          const content = await store.read(name);
          firstReadDone();
          return content;
        }
        await firstRead;
        if (reads === 2) await writer.append(message(MESSAGE_TYPES.disconnect, {}));
        return store.read(name);
      },
    },
  }) as RecordingStore;
  const overview = await summarizeRecording(racing, { id, streams: [key] });
  assert.equal(overview.state, 'recording');
  assert.equal(overview.user, 'fay');
});
