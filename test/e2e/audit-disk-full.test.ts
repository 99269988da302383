import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test, type TestContext } from 'node:test';
import { eventually } from '../helpers/audit.ts';
import { waitForNoSessionContainers } from '../helpers/docker.ts';
import { hardenedExecution, worldWithConfig } from '../helpers/fake-config.ts';
import { startLocalS3 } from '../helpers/s3.ts';
import { runSsh } from '../helpers/ssh-client.ts';
import { E2E } from '../helpers/deadlines.ts';

const run = promisify(execFile);
const STAGING_BYTES = 1024 * 1024;

/** A staging folder on a tmpfs of its own, 1 MiB in size; undefined where mounting is not allowed. */
async function tinyStaging(t: TestContext): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-tiny-staging-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${STAGING_BYTES},mode=0700`, 'tmpfs', dir]);
  } catch {
    await rmdir(dir);
    return undefined;
  }
  t.after(async () => {
    await run('umount', [dir]);
    await rmdir(dir);
  });
  return dir;
}

/** Fills a folder's filesystem to the last byte. */
async function fill(dir: string): Promise<string> {
  const file = join(dir, 'filler');
  await writeFile(file, Buffer.alloc(STAGING_BYTES)).catch(() => undefined);
  return file;
}

const recorded = (recording: string) => ({ backend: 'docker', docker: { execution: hardenedExecution() }, audit: { recording, storage: 's3' } });

test('disk full on audit staging: required refuses the login with its code, best-effort runs the session and counts the failure', E2E, async (t) => {
  const staging = await tinyStaging(t);
  if (!staging) return t.skip('mounting a tmpfs is not allowed here');
  const s3 = await startLocalS3();
  t.after(() => s3.close());
  const { world, setConfig } = await worldWithConfig(t, recorded('required'), {
    gateway: {
      // The store's own disk-full handling is under test: no free-space reserve to stop it first.
      audit: { s3: { endpoint: s3.endpoint, bucket: s3.bucket, credentialsFile: s3.credentialsFile }, stagingDirectory: staging, flushInterval: '1s', minFreeBytes: 0 },
      metrics: { listen: '127.0.0.1:0' },
    },
  });
  const filler = await fill(staging);

  const refused = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'echo should-not-run', timeoutMs: 60_000 });
  assert.notEqual(refused.code, 0);
  assert.doesNotMatch(refused.stdout, /should-not-run/);
  assert.match(refused.stderr, /portcullis: Login refused: this session must be recorded, and the recording storage is unavailable\. \(AUDIT_STORAGE_UNAVAILABLE\)/);
  assert.ok(
    world.gateway.logs.some((line) => line.code === 'AUDIT_STORAGE_UNAVAILABLE' && /ENOSPC|no space/i.test(JSON.stringify(line))),
    'the log names the full disk',
  );
  assert.deepEqual(await waitForNoSessionContainers(world.instanceId), [], 'no container was started');

  setConfig(recorded('best-effort'));
  const ran = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'echo ran-unrecorded', timeoutMs: 60_000 });
  assert.equal(ran.code, 0, ran.stderr);
  assert.match(ran.stdout, /ran-unrecorded/);

  // Room for the recording to start, not for what the session then sends: the disk fills mid-session.
  await rm(filler);
  const payload = randomBytes(4 * STAGING_BYTES);
  const filled = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'wc -c', stdin: payload, timeoutMs: 120_000 });
  assert.equal(filled.code, 0, filled.stderr);
  assert.equal(filled.stdout.trim(), String(payload.length), 'every byte reached the program');
  await eventually(async () => (world.gateway.logs.some((line) => line.code === 'AUDIT_RECORDING_FAILED') ? true : undefined), 'the write failure to be logged');

  const ops = await world.gateway.waitForCode('GATEWAY_OPS_LISTENING');
  const metrics = await (await fetch(`http://127.0.0.1:${String(ops.port)}/metrics`)).text();
  assert.match(metrics, /portcullis_audit_failures_total\{reason="unavailable"\} 2/);
  assert.match(metrics, /portcullis_audit_failures_total\{reason="write"\} 1/);
  assert.deepEqual(await waitForNoSessionContainers(world.instanceId), []);
});

test('disk full mid-session under required: the user is told why, the session ends and its container goes', E2E, async (t) => {
  const staging = await tinyStaging(t);
  if (!staging) return t.skip('mounting a tmpfs is not allowed here');
  const s3 = await startLocalS3();
  t.after(() => s3.close());
  const { world } = await worldWithConfig(t, recorded('required'), {
    gateway: {
      audit: {
        s3: { endpoint: s3.endpoint, bucket: s3.bucket, credentialsFile: s3.credentialsFile },
        stagingDirectory: staging,
        flushInterval: '1s',
        minFreeBytes: 0,
        // Back-pressure holds the session at 1 MiB pending, so it is still running when the write fails.
        maxPendingBytes: STAGING_BYTES,
      },
    },
  });
  // The recording starts (the disk is empty), then what the session sends outgrows the staging disk.
  const payload = randomBytes(32 * STAGING_BYTES);
  const ended = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'wc -c', stdin: payload, timeoutMs: 120_000 });
  assert.notEqual(ended.code, 0, 'the session did not run to its end unrecorded');
  assert.notEqual(ended.stdout.trim(), String(payload.length));
  assert.match(ended.stderr, /portcullis: session closed: the recording storage failed, and this session must be recorded \(AUDIT_RECORDING_FAILED\)/);
  assert.doesNotMatch(ended.stderr, /\n\s+at |Error:/, 'no stack trace');
  assert.deepEqual(await waitForNoSessionContainers(world.instanceId), []);
});
