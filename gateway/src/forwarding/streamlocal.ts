import type { ServerChannel } from 'ssh2';
import type { BackendConnection } from '../backends/index.ts';
import { errorFields, type Logger } from '../observability/index.ts';
import { relay } from './direct-tcpip.ts';
import { connectThroughAgent } from './guest-agent.ts';

/** A `direct-streamlocal@openssh.com` channel (ssh -L to a Unix socket in the container). */
export async function handleDirectStreamlocal(accept: () => ServerChannel | undefined, reject: () => void, socketPath: string, backend: Promise<BackendConnection>, log: Logger): Promise<void> {
  try {
    const connection = await backend;
    if (!connection.runHelper) throw new Error('this backend offers no socket forwarding');
    const upstream = await connectThroughAgent(connection, { path: socketPath });
    const channel = accept();
    // The client left while the socket was reached: nothing to relay to.
    if (!channel) return void upstream.destroy();
    relay(channel, upstream);
  } catch (error) {
    log.info({ code: 'SSH_FORWARD_REJECTED', kind: 'direct-streamlocal', ...errorFields(error) }, 'forward refused');
    reject();
  }
}
