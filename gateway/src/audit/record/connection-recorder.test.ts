import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, appendFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { AuditConfigSchema } from '@portcullis/wire';
import { isGatewayError } from '../../errors.ts';
import { parseAsciicast } from '../format/asciicast.ts';
import { decodeBinaryLog } from '../format/binary-log.ts';
import { FileRecordingStore } from '../store/file-store.ts';
import { MESSAGE_TYPES } from '../format/message-types.ts';
import { openSource, verifyStreams } from '../format/recording-reader.ts';
import { ConnectionRecorder } from './connection-recorder.ts';

const CONNECTION_ID = '0123456789abcdef0123456789abcdef';
const log = pino({ level: 'silent' });

async function tempDir(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-audit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function recorder(store: FileRecordingStore | undefined, failures: string[] = []) {
  return new ConnectionRecorder({
    identity: { connectionId: CONNECTION_ID, remoteAddress: '127.0.0.1:5555' },
    storeFor: () => store,
    flushIntervalMs: 60_000,
    maxChunkBytes: 64,
    log,
    onFailure: (reason) => failures.push(reason),
    onRequiredFailure: () => failures.push('ended'),
  });
}

test('a terminal session is recorded in order in the binary log and as asciicast, and verifies', async (t) => {
  const dir = await tempDir(t);
  const store = new FileRecordingStore(dir);
  const tap = recorder(store);
  tap.authAttempt({ method: 'password', username: 'demo', password: Buffer.from('secret'), outcome: 'rejected' });
  tap.authAttempt({ method: 'password', username: 'demo', password: Buffer.from('secret2'), outcome: 'accepted' });
  await tap.configure(AuditConfigSchema.parse({ recording: 'required' }));
  tap.handshake(true);
  const channel = tap.channel('session');
  channel.request('pty', { term: 'xterm-256color', cols: 100, rows: 30 });
  channel.request('shell');
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  channel.streams({ stdin, stdout });
  stdin.write('echo hi\r');
  stdout.write('hello from the container ');
  stdout.write(Buffer.from('é').subarray(0, 1));
  stdout.write(Buffer.from('é').subarray(1));
  channel.request('window-change', { cols: 120, rows: 40 });
  channel.exit({ exitCode: 3 });
  channel.close();
  await tap.close();

  const [id] = (await readdir(dir)).filter((name) => !name.startsWith('.'));
  assert.equal((await stat(join(dir, id!, 'audit.cslog'))).mode & 0o777, 0o600, 'recordings are private to the gateway user');
  assert.equal((await stat(join(dir, id!))).mode & 0o777, 0o700);
  const source = await openSource(join(dir, id!));
  const verdicts = await verifyStreams(source);
  assert.deepEqual(
    verdicts.map((verdict) => [verdict.key.split('/')[1], verdict.ok, verdict.complete]),
    [
      ['audit.cslog', true, true],
      ['channel-0.cast', true, true],
    ],
  );

  const { version, messages } = decodeBinaryLog(await readFile(join(dir, id!, 'audit.cslog')));
  assert.equal(version, 2);
  assert.deepEqual(
    messages.map((message) => message.type),
    [0, 102, 101, 199, 300, 301, 404, 405, 500, 500, 500, 500, 408, 499, 497, 1],
  );
  const timestamps = messages.map((message) => message.timestamp);
  assert.deepEqual(
    timestamps,
    [...timestamps].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
    'timestamps never go back',
  );
  const auth = messages.find((message) => message.type === MESSAGE_TYPES.authPasswordSuccessful)!;
  assert.equal((auth.payload!.password as Buffer).length, 0, 'no password without intercept.passwords');
  const io = messages.filter((message) => message.type === MESSAGE_TYPES.io).map((message) => `${message.payload!.stream}:${(message.payload!.data as Buffer).toString('latin1')}`);
  assert.equal(io[0], '0:echo hi\r');
  assert.equal(messages.find((message) => message.type === MESSAGE_TYPES.exit)!.payload!.exitStatus, 3);

  const cast = parseAsciicast(await readFile(join(dir, id!, 'channel-0.cast'), 'utf8'));
  assert.equal(cast.header.width, 100);
  assert.equal(cast.header.height, 30);
  assert.deepEqual((cast.header.env as Record<string, string>).TERM, 'xterm-256color');
  assert.equal(
    cast.events
      .filter(([, code]) => code === 'o')
      .map(([, , text]) => text)
      .join(''),
    'hello from the container é',
  );
  assert.deepEqual(cast.events.find(([, code]) => code === 'r')?.[2], '120x40');
});

test('passwords are recorded only when the policy asks', async (t) => {
  const dir = await tempDir(t);
  const tap = recorder(new FileRecordingStore(dir));
  tap.authAttempt({ method: 'password', username: 'demo', password: Buffer.from('pw'), outcome: 'accepted' });
  await tap.configure(AuditConfigSchema.parse({ recording: 'best-effort', intercept: { passwords: true } }));
  await tap.close();
  const [id] = (await readdir(dir)).filter((name) => !name.startsWith('.'));
  const { messages } = decodeBinaryLog(await readFile(join(dir, id!, 'audit.cslog')));
  assert.equal((messages[1]!.payload!.password as Buffer).toString(), 'pw');
});

test('required recording without a store refuses the login; best-effort goes on unrecorded and counts it', async () => {
  const failures: string[] = [];
  await assert.rejects(recorder(undefined, failures).configure(AuditConfigSchema.parse({ recording: 'required', storage: 's3' })), (error: unknown) => {
    assert.ok(isGatewayError(error));
    assert.equal(error.code, 'AUDIT_STORAGE_UNAVAILABLE');
    assert.match(error.toUserLine(), /must be recorded/);
    return true;
  });
  await recorder(undefined, failures).configure(AuditConfigSchema.parse({ recording: 'best-effort' }));
  assert.deepEqual(failures, ['unavailable', 'unavailable']);
});

test('a stream left open by a crash is cut to its last indexed chunk and sealed as incomplete', async (t) => {
  const dir = await tempDir(t);
  const store = new FileRecordingStore(dir);
  const key = `20261123T000000Z-${CONNECTION_ID}/channel-0.cast`;
  const writer = await store.openStream(key, 'asciicast');
  await writer.append(Buffer.from('{"version":2,"width":80,"height":24}\n'));
  await writer.append(Buffer.from('[0.1,"o","kept"]\n'));
  // The crash: bytes written that never got their chain entry.
  await appendFile(join(dir, key), '[0.2,"o","lost');
  const fresh = new FileRecordingStore(dir);
  assert.deepEqual(await fresh.recover(), [key]);
  const [verdict] = await verifyStreams(await openSource(join(dir, key)));
  assert.equal(verdict!.ok, true, verdict!.problems.join('; '));
  assert.equal(verdict!.complete, false);
  assert.match(await readFile(join(dir, key), 'utf8'), /kept"\]\n$/);
  assert.deepEqual(await fresh.recover(), [], 'nothing left to recover');
  void writeFile;
});

test('the uncopied I/O encoding is byte for byte the generic one', async () => {
  const { encodeIoMessage, encodeMessage } = await import('../format/binary-log.ts');
  for (const size of [0, 23, 24, 255, 256, 65_535, 65_536, 100_000])
    for (const [timestamp, channelId, stream] of [
      [1_795_435_084_723_629_816n, 7, 2],
      [23n, 0, 0],
      [65_536n, 300, 1],
      [0xffff_ffffn, 70_000, 2],
    ] as const) {
      const data = Buffer.alloc(size, 1);
      const pieces = encodeIoMessage(CONNECTION_ID, timestamp, channelId, stream, data);
      assert.ok(pieces[1] === data, 'the data itself, not a copy');
      const generic = encodeMessage({ connectionId: CONNECTION_ID, timestamp, type: 500, payload: { stream, data }, channelId });
      assert.deepEqual(Buffer.concat(pieces), generic, `size ${size}, timestamp ${timestamp}, channel ${channelId}`);
    }
});

test('per-stream switches: stdin off keeps it out of both formats; forwarded bytes follow intercept.forwarding', async (t) => {
  const dir = await tempDir(t);
  const tap = recorder(new FileRecordingStore(dir));
  await tap.configure(AuditConfigSchema.parse({ recording: 'required', intercept: { stdin: false, forwarding: false } }));
  const shell = tap.channel('session');
  shell.request('pty', { term: 'xterm', cols: 80, rows: 24 });
  shell.request('shell');
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  shell.streams({ stdin, stdout });
  stdin.write('typed-secret');
  stdout.write('shown-output');
  shell.close();
  const forward = tap.channel('direct-tcpip', { destination: 'db:5432' });
  const up = new PassThrough();
  const down = new PassThrough();
  forward.streams({ stdin: up, stdout: down });
  up.write('forwarded-bytes');
  forward.close();
  tap.channel('direct-tcpip', { destination: 'nowhere:1' }).close();
  await tap.close();
  const [id] = (await readdir(dir)).filter((name) => !name.startsWith('.'));
  const { messages } = decodeBinaryLog(await readFile(join(dir, id!, 'audit.cslog')));
  const io = messages.filter((message) => message.type === MESSAGE_TYPES.io).map((message) => Buffer.from(message.payload!.data as Uint8Array).toString());
  assert.deepEqual(io, ['shown-output']);
  assert.ok(messages.some((message) => message.type === MESSAGE_TYPES.newChannel && message.payload!.channelType === 'direct-tcpip' && message.payload!.destination === 'db:5432'));
  assert.deepEqual(
    messages.filter((message) => message.channelId === 2).map((message) => message.type),
    [MESSAGE_TYPES.newChannel, MESSAGE_TYPES.newChannelFailed],
    'a refused forward is recorded as refused',
  );
  const cast = await readFile(join(dir, id!, 'channel-0.cast'), 'utf8');
  assert.doesNotMatch(cast, /typed-secret/);
  assert.match(cast, /shown-output/);
});

test('SFTP channels record file events, never raw bytes, and keep content only as asked and up to the cap', async (t) => {
  const u32 = (value: number) => Buffer.from([value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255]);
  const str = (value: string | Buffer) => Buffer.concat([u32(Buffer.byteLength(value)), Buffer.from(value)]);
  const packet = (type: number, ...parts: Buffer[]) => {
    const body = Buffer.concat([Buffer.from([type]), ...parts]);
    return Buffer.concat([u32(body.length), body]);
  };
  const dir = await tempDir(t);
  const tap = recorder(new FileRecordingStore(dir));
  await tap.configure(AuditConfigSchema.parse({ recording: 'required', sftp: { storeContent: true, maxFileBytes: 4 } }));
  const channel = tap.channel('session');
  channel.request('subsystem', { name: 'sftp' });
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  channel.streams({ stdin, stdout });
  stdin.write(packet(3, u32(1), str('/home/user/notes.txt'), u32(0x1a), u32(0)));
  stdout.write(packet(102, u32(1), str('H')));
  stdin.write(packet(6, u32(2), str('H'), Buffer.alloc(8), str('secret-notes')));
  stdin.write(packet(4, u32(3), str('H')));
  stdout.write(packet(101, u32(2), u32(0), str(''), str('')));
  stdout.write(packet(101, u32(3), u32(0), str(''), str('')));
  channel.close();
  await tap.close();
  const [id] = (await readdir(dir)).filter((name) => !name.startsWith('.'));
  const { messages } = decodeBinaryLog(await readFile(join(dir, id!, 'audit.cslog')));
  assert.ok(!messages.some((message) => message.type === MESSAGE_TYPES.io));
  const [file] = messages.filter((message) => message.type === MESSAGE_TYPES.sftpFile).map((message) => message.payload!);
  assert.equal(file!.path, '/home/user/notes.txt');
  assert.equal(file!.bytes, 12);
  assert.equal(file!.sha256, createHash('sha256').update('secret-notes').digest('hex'));
  // The digest comes from the hashing thread after the close was asked: the log keeps the order.
  const types = messages.map((message) => message.type);
  assert.ok(
    types.indexOf(MESSAGE_TYPES.sftpFile) < types.indexOf(MESSAGE_TYPES.close) && types.indexOf(MESSAGE_TYPES.close) < types.indexOf(MESSAGE_TYPES.disconnect),
    `the file event, then the channel's close, then the disconnect: ${types.join(' ')}`,
  );
  assert.equal(file!.contentKey, `${id}/sftp-0-0.bin`);
  assert.equal(await readFile(join(dir, id!, 'sftp-0-0.bin'), 'utf8'), 'secr', 'content capped at maxFileBytes');
  const verdicts = await verifyStreams(await openSource(join(dir, id!)));
  assert.ok(
    verdicts.every((verdict) => verdict.ok),
    JSON.stringify(verdicts),
  );
});

test('keyboard-interactive steps are recorded in order; answers only when the policy asks for passwords', async (t) => {
  for (const passwords of [false, true]) {
    const dir = await tempDir(t);
    const tap = recorder(new FileRecordingStore(dir));
    tap.keyboardInteractive({ kind: 'challenge', username: 'otp', instruction: 'Enter the code', questions: [{ question: 'Password: ', echo: false }] });
    tap.keyboardInteractive({ kind: 'answers', username: 'otp', questions: ['Password: '], answers: ['wrong-secret'] });
    tap.keyboardInteractive({ kind: 'failed', username: 'otp' });
    tap.keyboardInteractive({ kind: 'error', username: 'otp', reason: 'AUTH_WEBHOOK_UNAVAILABLE' });
    await tap.configure(AuditConfigSchema.parse({ recording: 'required', intercept: { passwords } }));
    await tap.close();
    const [id] = (await readdir(dir)).filter((name) => !name.startsWith('.'));
    const { messages } = decodeBinaryLog(await readFile(join(dir, id!, 'audit.cslog')));
    assert.deepEqual(
      messages.map((message) => message.type),
      [0, 108, 109, 110, 111, 1],
    );
    assert.deepEqual(messages[1]!.payload, { username: 'otp', instruction: 'Enter the code', questions: [{ question: 'Password: ', echo: false }] });
    assert.deepEqual(messages[2]!.payload, { username: 'otp', answers: [{ question: 'Password: ', answer: passwords ? 'wrong-secret' : '' }] });
    assert.deepEqual(messages[4]!.payload, { username: 'otp', reason: 'AUTH_WEBHOOK_UNAVAILABLE' });
  }
});
