import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CONTAINER_BACKENDS, backendWorld } from '../helpers/backend-world.ts';
import { remotePath, runOpensshTool } from '../helpers/openssh-tools.ts';
import { runSsh } from '../helpers/ssh-client.ts';
import { E2E_SLOW } from '../helpers/deadlines.ts';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

for (const backend of CONTAINER_BACKENDS) {
  test(`file transfer inside the ${backend} session with OpenSSH sftp and scp`, E2E_SLOW, async (t) => {
    // The persistent mode keeps one container (pod) across the logins of this test, so a file
    // put by one login is there for the next; the home is big enough for the 50 MiB file.
    const session = await backendWorld(t, backend, { persistent: { homeMiB: 160, memoryMiB: 512 } });
    const { world } = session;
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-transfer-'));
    t.after(async () => {
      await rm(dir, { recursive: true, force: true });
      assert.deepEqual(await session.waitForNoSessions(), [], 'no session container or pod is left');
    });
    const content = randomBytes(50 * 1024 * 1024);
    await writeFile(join(dir, 'up.bin'), content);
    const remoteSha = async (path: string) => (await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: `sha256sum ${path}` })).stdout.split(' ')[0];

    await t.test('sftp: put and get of a 50 MiB file keep its SHA-256, as the session user', async () => {
      const put = await runOpensshTool(world, 'sftp', [`${world.username}@127.0.0.1`], {
        stdin: `put ${join(dir, 'up.bin')} /home/user/sftp.bin\nget /home/user/sftp.bin ${join(dir, 'sftp-down.bin')}\n`,
      });
      assert.equal(put.code, 0, put.stderr);
      assert.equal(await remoteSha('/home/user/sftp.bin'), sha256(content));
      assert.equal(sha256(await readFile(join(dir, 'sftp-down.bin'))), sha256(content));
      const owner = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'stat -c %U /home/user/sftp.bin' });
      assert.equal(owner.stdout, 'user\n');
    });

    await t.test('sftp: the read-only root refuses an upload with a clear error', async () => {
      const refused = await runOpensshTool(world, 'sftp', [`${world.username}@127.0.0.1`], { stdin: `put ${join(dir, 'up.bin')} /usr/evil.bin\n` });
      assert.match(refused.stderr, /Permission denied|Read-only file system|Failure/i);
      const check = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'test -e /usr/evil.bin && echo present || echo absent' });
      assert.equal(check.stdout, 'absent\n');
    });

    for (const legacy of [false, true]) {
      const flags = legacy ? ['-O'] : [];
      const name = legacy ? 'scp -O (legacy protocol, scp in the image)' : 'scp (SFTP protocol)';
      await t.test(`${name}: upload and download keep the SHA-256`, async () => {
        const remote = `/home/user/scp-${legacy ? 'legacy' : 'sftp'}.bin`;
        const up = await runOpensshTool(world, 'scp', [...flags, join(dir, 'up.bin'), remotePath(world, remote)]);
        assert.equal(up.code, 0, up.stderr);
        assert.equal(await remoteSha(remote), sha256(content));
        const owner = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: `stat -c %U ${remote}` });
        assert.equal(owner.stdout, 'user\n', 'written as the session user');
        const local = join(dir, `scp-down-${legacy}.bin`);
        const down = await runOpensshTool(world, 'scp', [...flags, remotePath(world, remote), local]);
        assert.equal(down.code, 0, down.stderr);
        assert.equal(sha256(await readFile(local)), sha256(content));
        await rm(local);
        await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: `rm -f ${remote}` });
      });

      await t.test(`${name}: the read-only root refuses an upload`, async () => {
        const small = join(dir, 'small.txt');
        await writeFile(small, 'not here\n');
        const refused = await runOpensshTool(world, 'scp', [...flags, small, remotePath(world, `/usr/evil-${legacy ? 'legacy' : 'sftp'}.txt`)]);
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /Permission denied|Read-only file system|Failure/i);
        const check = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'ls /usr | grep -c evil || true' });
        assert.equal(check.stdout, '0\n');
      });
    }
  });
}
