import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hardenedPod, worldWithPod } from '../helpers/kubernetes.ts';
import { runSsh } from '../helpers/ssh-client.ts';
import { sshTerminal } from '../helpers/tmux.ts';
import { E2E } from '../helpers/deadlines.ts';

describe('Kubernetes sessions: a live terminal and the webhook files', () => {
  test('the program in the pod sees the new size when the client window is resized mid-session', E2E, async (t) => {
    const kube = await worldWithPod(t, hardenedPod());
    const { world } = kube;
    const terminal = await sshTerminal(t, `portcullis-kube-resize-${process.pid}`, world);
    await terminal.waitFor(/\$\s*$/m, 90_000);
    await terminal.type('stty size');
    await terminal.waitFor(/^30 100\s*$/m);
    await terminal.resize(120, 40);
    await terminal.waitForSize(40, 120);
    await terminal.resize(90, 25);
    await terminal.waitForSize(25, 90);
    await terminal.type('exit');
    assert.deepEqual(await kube.waitForNoPods(), [], 'the pod goes with the connection');
  });

  test('files from the config answer are in the pod with their content, mode and the session user as owner, in connection and session mode', E2E, async (t) => {
    const secret = `token-${process.pid}-${Date.now()}`;
    const motd = 'Welcome to the pod.\nSecond line.\n';
    const answer = {
      files: {
        '/home/user/motd.txt': { value: Buffer.from(motd).toString('base64'), sensitive: false, mode: '0640' },
        '/home/user/.token': { value: Buffer.from(`${secret}\n`).toString('base64'), sensitive: true },
        '/home/user/.config/tool/settings': { value: Buffer.from('a=1\n').toString('base64'), sensitive: false },
      },
    };
    const kube = await worldWithPod(t, hardenedPod({ mode: 'connection' }), { answer });
    const { world } = kube;
    const command =
      'cat /home/user/motd.txt /home/user/.token /home/user/.config/tool/settings; echo ---; stat -c "%n %a %u %g" /home/user/motd.txt /home/user/.token /home/user/.config/tool/settings; id -u';
    for (const mode of ['connection', 'session']) {
      kube.setPod(hardenedPod({ mode }));
      const result = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command });
      assert.equal(result.code, 0, result.stderr);
      const [content = '', stat = ''] = result.stdout.split('---\n');
      assert.equal(content, `${motd}${secret}\na=1\n`, `${mode}: contents`);
      const lines = stat.trim().split('\n');
      assert.equal(lines.at(-1), '1000', 'the pod securityContext user');
      assert.deepEqual(
        lines.slice(0, 3),
        ['/home/user/motd.txt 640 1000 1000', '/home/user/.token 600 1000 1000', '/home/user/.config/tool/settings 644 1000 1000'],
        `${mode}: modes (given, sensitive default, plain default) and owner`,
      );
    }
    assert.ok(!world.gateway.logs.some((line) => JSON.stringify(line).includes(secret)), 'the sensitive content reaches no log line');
    const execs = kube.kube.received.filter((entry) => JSON.stringify(entry).includes(secret));
    assert.deepEqual(execs, [], 'nor any request body the API server received');
    assert.deepEqual(await kube.waitForNoPods(), []);
  });
});
