import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { S3RecordingStore } from '../../gateway/src/audit/store/s3-store.ts';
import { decodeBinaryLog } from '../../gateway/src/audit/format/binary-log.ts';
import { parseAsciicast } from '../../gateway/src/audit/format/asciicast.ts';
import { MESSAGE_TYPES } from '../../gateway/src/audit/format/message-types.ts';
import { auditCli, eventually } from '../helpers/audit.ts';
import { waitForNoSessionContainers } from '../helpers/docker.ts';
import { hardenedExecution, worldWithConfig } from '../helpers/fake-config.ts';
import { startLocalS3, type LocalS3 } from '../helpers/s3.ts';
import { holdSession, runSsh } from '../helpers/ssh-client.ts';
import { E2E } from '../helpers/deadlines.ts';

async function localS3(t: TestContext): Promise<LocalS3> {
  const s3 = await startLocalS3();
  t.after(() => s3.close());
  return s3;
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-staging-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const s3Settings = (s3: LocalS3, staging: string) => ({
  audit: { s3: { endpoint: s3.endpoint, bucket: s3.bucket, credentialsFile: s3.credentialsFile }, stagingDirectory: staging, flushInterval: '1s' },
});

const recorded = (recording: string) => ({ backend: 'docker', docker: { execution: hardenedExecution() }, audit: { recording, storage: 's3' } });

/** Files under the staging folder whose bytes contain `text`. */
async function stagedWith(staging: string, text: string): Promise<true | undefined> {
  for (const stream of await readdir(staging).catch(() => [] as string[])) {
    for (const name of await readdir(join(staging, stream)).catch(() => [] as string[])) {
      if (name.startsWith('pending-') && (await readFile(join(staging, stream, name)).catch(() => Buffer.alloc(0))).includes(text)) return true;
    }
  }
  return undefined;
}

test('kill -9 mid-session, then restart: the recording in S3 is complete up to the last flush and verifies', E2E, async (t) => {
  const s3 = await localS3(t);
  const staging = await tempDir(t);
  const { world } = await worldWithConfig(t, recorded('required'), { gateway: s3Settings(s3, staging) });
  const held = await holdSession({ port: world.sshPort, username: world.username, password: world.password, tty: true, command: 'echo "before-kill-$((1+1))"; sleep 600' });
  await held.waitFor('before-kill-2');
  // The flush that carries the output reached the staging disk (at most flushInterval later).
  await eventually(() => stagedWith(staging, 'before-kill-2'), 'the output to be flushed to staging');
  world.gateway.process.kill('SIGKILL');
  await held.closed;
  const restarted = await world.startAnotherGateway();
  await restarted.waitForCode('AUDIT_RECOVERED');
  await eventually(async () => ((await readdir(staging)).length === 0 ? true : undefined), 'staging to be emptied');

  const store = new S3RecordingStore({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    bucket: s3.bucket,
    prefix: '',
    forcePathStyle: true,
    credentials: s3.credentials,
    partSize: 5 * 1024 * 1024,
    timeoutMs: 10_000,
    stagingDirectory: staging,
  });
  t.after(() => store.close());
  const { recordings } = await store.list({ limit: 10 });
  assert.equal(recordings.length, 1);
  const recording = recordings[0]!;
  assert.deepEqual(
    recording.streams.map((key) => key.split('/')[1]),
    ['audit.cslog', 'channel-0.cast'],
  );
  const cast = parseAsciicast((await store.read(`${recording.id}/channel-0.cast`)).toString('utf8'));
  assert.match(cast.events.map(([, , text]) => text).join(''), /before-kill-2/);
  const { messages } = decodeBinaryLog(await store.read(`${recording.id}/audit.cslog`));
  assert.ok(
    messages.some(
      (message) =>
        message.type === MESSAGE_TYPES.io &&
        Buffer.from(message.payload!.data as Uint8Array)
          .toString()
          .includes('before-kill-2'),
    ),
  );

  const verified = await auditCli(['verify', `s3://${s3.bucket}/${recording.id}`, '--endpoint', s3.endpoint, '--credentials', s3.credentialsFile]);
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  assert.match(verified.stdout, /OK .*audit\.cslog.*sealed after a gateway crash/);
  assert.deepEqual(await waitForNoSessionContainers(world.instanceId), []);
});

test('recording required with S3 stopped refuses the session; best-effort runs it and counts the failure', E2E, async (t) => {
  const s3 = await localS3(t);
  const staging = await tempDir(t);
  const { world, setConfig } = await worldWithConfig(t, recorded('required'), {
    gateway: { ...s3Settings(s3, staging), metrics: { listen: '127.0.0.1:0' } },
  });
  await s3.stop();
  const refused = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'echo should-not-run', timeoutMs: 60_000 });
  assert.notEqual(refused.code, 0);
  assert.doesNotMatch(refused.stdout, /should-not-run/);
  assert.match(refused.stderr, /portcullis: Login refused: this session must be recorded, and the recording storage is unavailable\. \(AUDIT_STORAGE_UNAVAILABLE\)/);
  assert.deepEqual(await waitForNoSessionContainers(world.instanceId), [], 'no container was started');

  setConfig(recorded('best-effort'));
  const ran = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'echo ran-unrecorded', timeoutMs: 60_000 });
  assert.equal(ran.code, 0, ran.stderr);
  assert.match(ran.stdout, /ran-unrecorded/);
  const ops = await world.gateway.waitForCode('GATEWAY_OPS_LISTENING');
  const metrics = await (await fetch(`http://127.0.0.1:${String(ops.port)}/metrics`)).text();
  assert.match(metrics, /portcullis_audit_failures_total\{reason="unavailable"\} 2/);
  assert.ok(!world.gateway.output.some((line) => line.includes(s3.credentials.secretAccessKey)), 'S3 credentials never reach a log line');
});

test('S3 staging stays bounded by about one part however long the stream, and the object verifies', E2E, async (t) => {
  const s3 = await localS3(t);
  const staging = await tempDir(t);
  const partSize = 5 * 1024 * 1024;
  const store = new S3RecordingStore({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    bucket: s3.bucket,
    prefix: 'long/',
    forcePathStyle: true,
    credentials: s3.credentials,
    partSize,
    timeoutMs: 10_000,
    stagingDirectory: staging,
  });
  t.after(() => store.close());
  const key = '20261123T000000Z-0123456789abcdef0123456789abcdef/channel-0.cast';
  const writer = await store.openStream(key, 'asciicast');
  const chunk = Buffer.alloc(1024 * 1024, 0x61);
  let largest = 0;
  for (let i = 0; i < 24; i++) {
    await writer.append(chunk);
    let staged = 0;
    for (const dir of await readdir(staging)) for (const name of await readdir(join(staging, dir))) staged += (await readFile(join(staging, dir, name))).length;
    largest = Math.max(largest, staged);
  }
  await writer.close();
  assert.ok(largest <= partSize + chunk.length + 64 * 1024, `staging peaked at ${largest} bytes`);
  assert.deepEqual(await readdir(staging), [], 'nothing staged after close');
  const verified = await auditCli(['verify', `s3://${s3.bucket}/long/${key}`, '--endpoint', s3.endpoint, '--credentials', s3.credentialsFile]);
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  const listed = await auditCli(['list', `s3://${s3.bucket}/long/`, '--endpoint', s3.endpoint, '--credentials', s3.credentialsFile]);
  // A terminal recording without a binary log: only its start is known.
  assert.match(listed.stdout, /^20261123T000000Z-0123456789abcdef0123456789abcdef\s+-\s+-\s+2026-11-23T00:00:00Z\s+-\s+0\s+0\s+-\s+no-log$/m);
  const data = await store.read(key);
  assert.equal(data.length, 24 * chunk.length);
});
