import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { decodeBinaryLog } from '../../gateway/src/audit/format/binary-log.ts';
import { MESSAGE_TYPES } from '../../gateway/src/audit/format/message-types.ts';
import { summarizeRecording } from '../../gateway/src/audit/format/recording-summary.ts';
import { FileRecordingStore } from '../../gateway/src/audit/store/file-store.ts';
import { composeDefaultAudit } from '../../bench/lib/compose-audit.ts';
import { recordingFolders } from '../helpers/audit.ts';
import { E2E_SLOW } from '../helpers/deadlines.ts';
import { hardenedExecution, worldWithConfig } from '../helpers/fake-config.ts';
import { pollUntil } from '../helpers/poll-until.ts';
import { ensureSessionImage } from '../helpers/session-image.ts';
import { clientKit, runClient, startClient, type ExecClient, type FileClient } from '../helpers/ssh-clients.ts';

const OUTPUT_BYTES = 32 * 1024 * 1024;
const CLIENTS: readonly ExecClient[] = ['ssh', 'dbclient', 'plink', 'paramiko'];

/** A gateway recording as `docker compose up` does, into a folder of its own, and the clients' kit for it. */
async function recordedWorld(t: TestContext) {
  await ensureSessionImage();
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-audit-clients-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const recordings = join(dir, 'recordings');
  const { world } = await worldWithConfig(t, { backend: 'docker', docker: { execution: hardenedExecution() }, audit: await composeDefaultAudit() }, { gateway: { audit: { directory: recordings } } });
  const kit = await clientKit(t, { port: () => world.sshPort, username: world.username, password: world.password, hostKeyDir: join(world.dir, 'hostkeys') });
  return { dir, recordings, world, kit };
}

// Bulk output recorded as `docker compose up` records it (every output byte deflated in 1 MiB
// chunks on the threadpool, several compressing at once), read by each SSH client, and once by a
// client killed mid-transfer: every byte arrives, every recording is sealed with the bytes it saw.
test('recorded bulk output reaches OpenSSH, Dropbear, PuTTY and paramiko whole; a client killed mid-transfer leaves a sealed recording and a gateway that serves', E2E_SLOW, async (t) => {
  const { recordings, kit } = await recordedWorld(t);

  for (const client of CLIENTS) {
    const run = await runClient(kit.exec(client, `head -c ${OUTPUT_BYTES} /dev/zero`), { timeoutMs: 120_000 });
    assert.equal(run.timedOut, false, `${client} ended within its deadline`);
    assert.equal(run.code, 0, `${client}: ${run.stderr}`);
    assert.equal(run.stdout.length, OUTPUT_BYTES, `${client} read every byte`);
  }

  const killed = startClient(kit.exec('dbclient', 'head -c 1073741824 /dev/zero'), { timeoutMs: 120_000 });
  await pollUntil(() => killed.stdout().length >= 8 * 1024 * 1024, { what: '8 MiB through dbclient', timeoutMs: 60_000, intervalMs: 50 });
  killed.kill('SIGKILL');
  await killed.ended;
  const after = await runClient(kit.exec('ssh', 'echo still-serving'), { timeoutMs: 60_000 });
  assert.equal(after.stdout.toString(), 'still-serving\n', after.stderr);

  const store = new FileRecordingStore(recordings);
  const overviews = await pollUntil(
    async () => {
      const { recordings: listed } = await store.list({ limit: 20 });
      const seen = await Promise.all(listed.map((recording) => summarizeRecording(store, recording)));
      return seen.length === CLIENTS.length + 2 && seen.every((overview) => overview.state === 'complete') ? seen : undefined;
    },
    { what: 'every recording sealed and verified', timeoutMs: 60_000, intervalMs: 250 },
  );
  const outputs = overviews.map((overview) => overview.bytesOut).sort((a, b) => a - b);
  // The echo, the killed transfer (what reached the gateway before the kill), then the four whole ones.
  assert.equal(outputs[0], 'still-serving\n'.length);
  assert.ok(outputs[1]! >= 8 * 1024 * 1024 && outputs[1]! < 1073741824, `the killed transfer's recording holds what it sent: ${outputs[1]}`);
  assert.deepEqual(
    outputs.slice(2),
    CLIENTS.map(() => OUTPUT_BYTES),
  );
});

const UPLOAD_BYTES = 8 * 1024 * 1024;
/** On the container's 16 MiB /tmp; each client overwrites it (paramiko checks the size it wrote). */
const REMOTE_FILE = '/tmp/upload.bin';
const FILE_CLIENTS: readonly FileClient[] = ['sftp', 'dbclient', 'psftp', 'paramiko'];

/** Every SFTP file event the recordings under `dir` hold. */
async function fileEvents(dir: string): Promise<Record<string, unknown>[]> {
  const events: Record<string, unknown>[] = [];
  for (const id of await recordingFolders(dir)) {
    const { messages } = decodeBinaryLog(await readFile(join(dir, id, 'audit.cslog')));
    for (const message of messages) if (message.type === MESSAGE_TYPES.sftpFile) events.push(message.payload ?? {});
  }
  return events;
}

// The compose audit decodes SFTP into file events with each file's SHA-256, from the packets as
// each client splits them: OpenSSH, Dropbear's channel, PuTTY and paramiko, and a PuTTY upload
// killed half-way, which leaves an unclosed file event and a gateway that serves.
test('SFTP uploads from OpenSSH, Dropbear, PuTTY and paramiko are recorded with their SHA-256; an upload killed mid-way leaves an unclosed event and a gateway that serves', E2E_SLOW, async (t) => {
  const { dir, recordings, kit } = await recordedWorld(t);
  const content = randomBytes(UPLOAD_BYTES);
  const local = join(dir, 'upload.bin');
  await writeFile(local, content);

  for (const client of FILE_CLIENTS) {
    const run = await runClient(await kit.transfer(client, 'put', local, REMOTE_FILE), { timeoutMs: 120_000 });
    assert.equal(run.timedOut, false, `${client} ended within its deadline`);
    assert.equal(run.code, 0, `${client}: ${run.stderr}`);
  }

  const big = join(dir, 'big.bin');
  await writeFile(big, Buffer.concat(Array.from({ length: 16 }, () => content)));
  const killed = startClient(await kit.transfer('psftp', 'put', big, '/dev/null'), { timeoutMs: 120_000 });
  // The client has read 8 MiB of its 128 MiB file: it is past the start and far from the end.
  const readByClient = async () => Number(/rchar: (\d+)/.exec(await readFile(`/proc/${killed.pid}/io`, 'utf8').catch(() => ''))?.[1] ?? 0);
  await pollUntil(async () => (await readByClient()) >= UPLOAD_BYTES, { what: '8 MiB read by psftp', timeoutMs: 60_000, intervalMs: 50 });
  killed.kill('SIGKILL');
  await killed.ended;
  const after = await runClient(kit.exec('ssh', 'echo still-serving'), { timeoutMs: 60_000 });
  assert.equal(after.stdout.toString(), 'still-serving\n', after.stderr);

  const sha256 = createHash('sha256').update(content).digest('hex');
  const events = await pollUntil(
    async () => {
      const seen = await fileEvents(recordings).catch(() => []);
      return seen.length === FILE_CLIENTS.length + 1 ? seen : undefined;
    },
    { what: 'a file event for each upload', timeoutMs: 60_000, intervalMs: 250 },
  );
  const whole = events.filter((event) => event.result === 'ok');
  assert.deepEqual(
    whole,
    FILE_CLIENTS.map(() => ({ operation: 'upload', path: REMOTE_FILE, direction: 'upload', bytes: UPLOAD_BYTES, sha256, result: 'ok' })),
  );
  const [cut] = events.filter((event) => event.result !== 'ok');
  assert.equal(cut?.result, 'unclosed');
  assert.ok(Number(cut?.bytes) > 0 && Number(cut?.bytes) < 16 * UPLOAD_BYTES, `the killed upload's event holds what arrived: ${cut?.bytes}`);
});
