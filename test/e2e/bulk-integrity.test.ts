import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { backendWorld } from '../helpers/backend-world.ts';
import { E2E_SLOW } from '../helpers/deadlines.ts';
import { clientKit, runClient, type ExecClient } from '../helpers/ssh-clients.ts';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** Bulk data both ways through the Docker backend, as a file copy over `ssh … cat` would move it. */
const BULK_MIB: Record<ExecClient, number> = { ssh: 64, 'ssh -C': 64, dbclient: 16, plink: 16, paramiko: 16 };
/** Both output streams at once: printable, so stderr (read as text) is compared exactly too. */
const TWO_STREAM_BYTES = 8 * 1024 * 1024;
const CLIENTS: readonly ExecClient[] = ['ssh', 'dbclient'];

// The gateway writes output straight through while the client's window is open and batches the
// packets of a turn into one socket write; these check that no byte is lost, repeated or reordered.
// About 25 s on a quiet machine: Dropbear's small default window makes its run the longest.
test('bulk transfer keeps every byte: random data through cat both ways, and stdout with stderr at once (OpenSSH, Dropbear)', E2E_SLOW, async (t) => {
  const { world } = await backendWorld(t, 'docker');
  const kit = await clientKit(t, { port: () => world.sshPort, username: world.username, password: world.password, hostKeyDir: join(world.dir, 'hostkeys') });
  const payload = randomBytes(64 * 1024 * 1024);
  const text = randomBytes(TWO_STREAM_BYTES / 2).toString('hex');

  for (const client of CLIENTS) {
    const bulk = payload.subarray(0, BULK_MIB[client] * 1024 * 1024);
    await t.test(`${client}: ${BULK_MIB[client]} MiB of random bytes come back from cat with the same SHA-256`, async () => {
      const run = await runClient(kit.exec(client, 'cat'), { stdin: bulk, timeoutMs: 120_000 });
      assert.equal(run.timedOut, false, `ended within its deadline (stdout ${run.stdout.length} bytes; stderr: ${run.stderr.trim()})`);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout.length, bulk.length, 'every byte came back');
      assert.equal(sha256(run.stdout), sha256(bulk), 'the same bytes, in order');
    });

    await t.test(`${client}: the same 8 MiB on stdout and on stderr at once, both whole`, async () => {
      const run = await runClient(kit.exec(client, 'tee /dev/stderr'), { stdin: text, timeoutMs: 60_000 });
      assert.equal(run.timedOut, false, `ended within its deadline (stdout ${run.stdout.length} bytes, stderr ${run.stderr.length})`);
      assert.equal(run.code, 0);
      assert.equal(run.stdout.length, text.length, 'stdout whole');
      assert.equal(sha256(run.stdout), sha256(text));
      // The client's own notices (a host key it accepted) come first on its stderr.
      const programStderr = run.stderr.slice(-text.length);
      assert.ok(run.stderr.length - text.length < 1024, `stderr whole (${run.stderr.length} characters)`);
      assert.equal(sha256(programStderr), sha256(text));
    });
  }
});
