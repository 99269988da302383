import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { decodeBinaryLog } from '../../gateway/src/audit/format/binary-log.ts';
import { MESSAGE_TYPES, STREAMS } from '../../gateway/src/audit/format/message-types.ts';
import { S3RecordingStore } from '../../gateway/src/audit/store/s3-store.ts';
import { auditCli } from '../helpers/audit.ts';
import { waitForNoSessionContainers } from '../helpers/docker.ts';
import { hardenedExecution, worldWithConfig } from '../helpers/fake-config.ts';
import { startLocalS3 } from '../helpers/s3.ts';
import { opensshInvocation } from '../helpers/ssh-client.ts';
import { startThrottledProxy } from '../helpers/throttled-proxy.ts';
import { E2E } from '../helpers/deadlines.ts';

const MIB = 1024 * 1024;
const SENT = Number(process.env.PORTCULLIS_AUDIT_PRESSURE_MIB ?? 96) * MIB;
const RECEIVED = 32 * MIB;
/** Far below the session's pace: the recording falls behind unless the session is held back. */
const STORAGE_BYTES_PER_SECOND = 6 * MIB;
const BOUND = 4 * MIB;

/** Random bytes, 1 MiB at a time, produced only as fast as ssh takes them. */
function randomSource(total: number): Readable {
  let left = total;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const size = Math.min(MIB, left);
      left -= size;
      this.push(randomBytes(size));
    },
  });
}

test(`a storage slower than the session holds it back: ${SENT / MIB} MiB in and ${RECEIVED / MIB} MiB out complete under recording required, every byte recorded`, E2E, async (t) => {
  const s3 = await startLocalS3();
  t.after(() => s3.close());
  const proxy = await startThrottledProxy({ host: '127.0.0.1', port: Number(new URL(s3.endpoint).port) }, STORAGE_BYTES_PER_SECOND);
  t.after(() => proxy.close());
  const staging = await mkdtemp(join(tmpdir(), 'portcullis-staging-'));
  t.after(() => rm(staging, { recursive: true, force: true }));
  const { world } = await worldWithConfig(
    t,
    { backend: 'docker', docker: { execution: hardenedExecution() }, audit: { recording: 'required', storage: 's3' } },
    {
      gateway: {
        audit: {
          s3: { endpoint: `http://127.0.0.1:${proxy.port}`, bucket: s3.bucket, credentialsFile: s3.credentialsFile, timeout: '30s' },
          stagingDirectory: staging,
          flushInterval: '1s',
          maxPendingBytes: BOUND,
        },
      },
    },
  );

  const { args, env, dir } = await opensshInvocation({ port: world.sshPort, username: world.username, password: world.password, command: `cat > /dev/null && head -c ${RECEIVED} /dev/urandom` });
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ssh = spawn('ssh', args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let received = 0;
  let stderr = '';
  ssh.stdout.on('data', (chunk: Buffer) => (received += chunk.length));
  ssh.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => ssh.kill('SIGKILL'), 240_000);
  const closed = new Promise<number | null>((resolve) => ssh.on('close', resolve));
  await pipeline(randomSource(SENT), ssh.stdin).catch(() => undefined);
  const code = await closed;
  clearTimeout(timer);
  assert.equal(code, 0, stderr);
  assert.equal(received, RECEIVED, 'the client got all of the output');
  await world.gateway.waitForCode('AUDIT_RECORDING_STORED', 120_000);
  assert.ok(!world.gateway.logs.some((line) => line.code === 'AUDIT_RECORDING_FAILED'), 'nothing was dropped or failed');

  const store = new S3RecordingStore({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    bucket: s3.bucket,
    prefix: '',
    forcePathStyle: true,
    credentials: s3.credentials,
    partSize: 5 * MIB,
    timeoutMs: 30_000,
    stagingDirectory: staging,
  });
  t.after(() => store.close());
  const { recordings } = await store.list({ limit: 10 });
  assert.equal(recordings.length, 1);
  const id = recordings[0]!.id;
  const verified = await auditCli(['verify', `s3://${s3.bucket}/${id}`, '--endpoint', s3.endpoint, '--credentials', s3.credentialsFile]);
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  assert.match(verified.stdout, /OK .*audit\.cslog/);

  const { messages } = decodeBinaryLog(await store.read(`${id}/audit.cslog`));
  const bytesOf = (stream: number) =>
    messages.filter((message) => message.type === MESSAGE_TYPES.io && message.payload!.stream === stream).reduce((sum, message) => sum + (message.payload!.data as Uint8Array).length, 0);
  assert.equal(bytesOf(STREAMS.stdin), SENT, 'the recorded stdin is every byte sent');
  assert.equal(bytesOf(STREAMS.stdout), RECEIVED, 'the recorded stdout is every byte received');
  assert.equal(messages.find((message) => message.type === MESSAGE_TYPES.exit)?.payload?.exitStatus, 0);
  assert.deepEqual(await waitForNoSessionContainers(world.instanceId), []);
});
