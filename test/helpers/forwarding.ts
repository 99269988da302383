import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { freePort } from './ports.ts';
import { opensshInvocation } from './ssh-client.ts';
import type { World } from './world.ts';
import { trackProcess } from './leftovers.ts';
import { pollUntil } from './poll-until.ts';

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
  trackProcess(tunnel);
  t.after(async () => {
    tunnel.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  });
  // Retry only while ssh has not opened its local listener yet (connection refused).
  const socket = await pollUntil(
    async (): Promise<Socket | undefined> => {
      const attempt = connect(localPort, '127.0.0.1');
      try {
        await once(attempt, 'connect');
        return attempt;
      } catch (error) {
        if (tunnel.exitCode !== null) throw error;
        return undefined;
      }
    },
    { what: `ssh's forwarded port ${localPort} to accept a connection` },
  );
  // Connected: whatever comes back is the answer. A refused channel closes the local
  // socket, sometimes with a reset; both mean nothing came through.
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined); // a reset ends the exchange like a close
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.end('ping through the tunnel');
  await closed;
  return Buffer.concat(chunks).toString('utf8');
}

/** Sends `message` to a TCP port or Unix socket, returns the full reply ('' when refused). */
export async function exchange(target: number | string, message: string): Promise<string> {
  const socket = typeof target === 'number' ? connect(target, '127.0.0.1') : connect(target);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  try {
    await once(socket, 'connect');
  } catch {
    return '';
  }
  // A refused channel closes the local socket, sometimes with a reset: both mean no answer.
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.end(message);
  await closed;
  return Buffer.concat(chunks).toString('utf8');
}

/** A server on the test host that answers every connection with `reply:` and what it read; a TCP port on 127.0.0.1, or the Unix socket `path`. */
export async function hostServer(t: TestContext, reply: string, path?: string): Promise<Server> {
  const server = createServer((socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => socket.end(`${reply}:${Buffer.concat(chunks).toString('utf8')}`));
    socket.on('error', () => undefined);
  });
  if (path) server.listen(path);
  else server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return server;
}
