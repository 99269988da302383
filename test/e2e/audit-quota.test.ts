import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { decodeBinaryLog } from '../../gateway/src/audit/format/binary-log.ts';
import { MESSAGE_TYPES } from '../../gateway/src/audit/format/message-types.ts';
import { waitForNoSessionContainers } from '../helpers/docker.ts';
import { hardenedExecution, worldWithConfig } from '../helpers/fake-config.ts';
import { runSsh } from '../helpers/ssh-client.ts';
import { E2E } from '../helpers/deadlines.ts';

/**
 * A session that prints without end (`head -c … /dev/urandom`) against the recording quota:
 * the recording stops at audit.maxRecordingBytes instead of filling the gateway's disk.
 */
const MIB = 1024 * 1024;
const PRINTED = 24 * MIB;

const recorded = (recording: string) => ({ backend: 'docker', docker: { execution: hardenedExecution() }, audit: { recording, storage: 'file' } });

async function recordingsDir(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-quota-e2e-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Bytes of every file under dir. A walk that races a recording being moved out of `.open` is walked again. */
async function treeBytes(dir: string): Promise<number> {
  for (let walk = 1; ; walk++) {
    try {
      let total = 0;
      for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
        if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
      }
      return total;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || walk >= 20) throw error;
    }
  }
}

test('24 MiB of random output under a 2 MiB quota: best-effort runs to its end while the recording stops near 2 MiB, saying so; required ends the session', E2E, async (t) => {
  const dir = await recordingsDir(t);
  const { world, setConfig } = await worldWithConfig(t, recorded('best-effort'), {
    logLevel: 'info',
    // The machine is shared; a config answer slower than the default 5 s is not what this tests.
    webhookTimeout: '30s',
    gateway: { audit: { directory: dir, flushInterval: '1s', maxRecordingBytes: 2 * MIB, minFreeBytes: 0 } },
  });

  const flood = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: `head -c ${PRINTED} /dev/urandom`, timeoutMs: 120_000 });
  assert.equal(flood.code, 0, flood.stderr);
  assert.ok(flood.stdout.length > PRINTED / 2, 'the output reached the client');
  await world.gateway.waitForCode('AUDIT_RECORDING_QUOTA_REACHED');
  // The client's end comes before the gateway sealed the recording: read it once it is stored,
  // not while its last chunk is being written.
  await world.gateway.waitForCode('AUDIT_RECORDING_STORED');
  const bytes = await treeBytes(dir);
  t.diagnostic(`${PRINTED} bytes printed; recordings on disk: ${bytes} bytes`);
  assert.ok(bytes < 3 * MIB, `the recordings take ${bytes} bytes, not the ${PRINTED} printed`);

  const folders = (await readdir(dir)).filter((name) => !name.startsWith('.')).sort();
  const { messages } = decodeBinaryLog(await readFile(join(dir, folders.at(-1)!, 'audit.cslog')));
  const stopped = messages.find((message) => message.type === MESSAGE_TYPES.recordingStopped);
  assert.deepEqual(stopped?.payload, { reason: 'quota', scope: 'session', maxRecordingBytes: 2 * MIB }, 'the recording says where and why it stops');

  setConfig(recorded('required'));
  const ended = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: `head -c ${PRINTED} /dev/urandom`, timeoutMs: 120_000 });
  assert.notEqual(ended.code, 0, 'a session that must be recorded does not run on unrecorded');
  assert.match(ended.stderr, /\(AUDIT_RECORDING_FAILED\)/);
  assert.ok(world.gateway.logs.filter((line) => line.code === 'AUDIT_RECORDING_QUOTA_REACHED').some((line) => line.recording === 'required'));
  assert.ok((await treeBytes(dir)) < 6 * MIB, 'and its recording stayed within the quota too');
  assert.deepEqual(await waitForNoSessionContainers(world.instanceId), []);
});
