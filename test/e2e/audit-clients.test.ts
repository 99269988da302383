import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { summarizeRecording } from '../../gateway/src/audit/format/recording-summary.ts';
import { FileRecordingStore } from '../../gateway/src/audit/store/file-store.ts';
import { composeDefaultAudit } from '../../bench/lib/compose-audit.ts';
import { E2E_SLOW } from '../helpers/deadlines.ts';
import { hardenedExecution, worldWithConfig } from '../helpers/fake-config.ts';
import { pollUntil } from '../helpers/poll-until.ts';
import { ensureSessionImage } from '../helpers/session-image.ts';
import { clientKit, runClient, startClient, type ExecClient } from '../helpers/ssh-clients.ts';

const OUTPUT_BYTES = 32 * 1024 * 1024;
const CLIENTS: readonly ExecClient[] = ['ssh', 'dbclient', 'plink', 'paramiko'];

// Bulk output recorded as `docker compose up` records it (every output byte deflated in 1 MiB
// chunks on the threadpool, several compressing at once), read by each SSH client, and once by a
// client killed mid-transfer: every byte arrives, every recording is sealed with the bytes it saw.
test('recorded bulk output reaches OpenSSH, Dropbear, PuTTY and paramiko whole; a client killed mid-transfer leaves a sealed recording and a gateway that serves', E2E_SLOW, async (t) => {
  await ensureSessionImage();
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-audit-clients-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const recordings = join(dir, 'recordings');
  const { world } = await worldWithConfig(t, { backend: 'docker', docker: { execution: hardenedExecution() }, audit: await composeDefaultAudit() }, { gateway: { audit: { directory: recordings } } });
  const kit = await clientKit(t, { port: () => world.sshPort, username: world.username, password: world.password, hostKeyDir: join(world.dir, 'hostkeys') });

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
