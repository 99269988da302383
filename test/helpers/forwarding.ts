import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { text } from 'node:stream/consumers';
import type { TestContext } from 'node:test';
import { freePort } from './ports.ts';
import { opensshInvocation } from './ssh-client.ts';
import type { World } from './world.ts';

/** Runs `ssh -L` through the gateway and sends one line through the tunnel; resolves with the reply. */
export async function throughLocalForward(world: World, servicePort: number, t: TestContext): Promise<string> {
  const localPort = await freePort();
  const { args, env, dir } = await opensshInvocation({
    port: world.sshPort,
    username: world.username,
    password: world.password,
    extraArgs: ['-N', '-o', 'ExitOnForwardFailure=yes', '-L', `${localPort}:127.0.0.1:${servicePort}`],
  });
  const tunnel = spawn('ssh', args, { env, stdio: 'ignore' });
  t.after(async () => {
    tunnel.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const socket = connect(localPort, '127.0.0.1');
      await once(socket, 'connect');
      socket.end('ping through the tunnel');
      return await text(socket);
    } catch (error) {
      if (Date.now() > deadline || tunnel.exitCode !== null) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

