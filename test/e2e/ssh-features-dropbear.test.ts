import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CONTAINER_BACKENDS, backendWorld } from '../helpers/backend-world.ts';
import { runBounded, type ProcessResult } from '../helpers/bounded-process.ts';
import { E2E_SLOW } from '../helpers/deadlines.ts';

function runTool(command: string, args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<ProcessResult> {
  return runBounded(command, args, { env, stdin });
}

for (const backend of CONTAINER_BACKENDS) {
  test(`Dropbear's dbclient: exec, shell and sftp through the gateway (${backend})`, E2E_SLOW, async (t) => {
    const session = await backendWorld(t, backend);
    const { world } = session;
    const home = await mkdtemp(join(tmpdir(), 'portcullis-dbclient-'));
    t.after(async () => {
      await rm(home, { recursive: true, force: true });
      assert.deepEqual(await session.waitForNoSessions(), [], 'no session container or pod is left');
    });
    // dbclient takes the password from DROPBEAR_PASSWORD and keeps known hosts under $HOME.
    const env = { ...process.env, HOME: home, DROPBEAR_PASSWORD: world.password };
    const target = ['-y', '-p', String(world.sshPort), '-l', world.username, '127.0.0.1'];

    await t.test('exec: output, stderr and the exit code come back', async () => {
      const result = await runTool('dbclient', [...target, 'echo out; echo err >&2; id -u; exit 3'], env);
      assert.equal(result.stdout, 'out\n1000\n', result.stderr);
      assert.match(result.stderr, /err/);
      assert.equal(result.code, 3);
    });

    await t.test('shell: commands on stdin run in the container shell', async () => {
      const result = await runTool('dbclient', ['-T', ...target], env, 'echo "shell in $HOME"\nexit 0\n');
      assert.match(result.stdout, /shell in \/home\/user/, result.stderr);
      assert.equal(result.code, 0);
    });

    await t.test('sftp: OpenSSH sftp over dbclient as its transport (dbclient -s)', async () => {
      const wrapper = join(home, 'dbclient-sftp.sh');
      // sftp -S passes OpenSSH options dbclient does not know; the wrapper asks for the subsystem itself.
      await writeFile(wrapper, `#!/bin/sh\nexec dbclient -y -p ${world.sshPort} -l ${world.username} -s 127.0.0.1 sftp\n`);
      await chmod(wrapper, 0o700);
      const result = await runTool('sftp', ['-S', wrapper, '-b', '-', 'ignored'], env, 'put /etc/hostname /home/user/from-dbclient\nls -l /home/user\n');
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /from-dbclient/);
    });
  });
}
