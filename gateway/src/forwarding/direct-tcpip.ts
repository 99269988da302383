import type { Duplex } from 'node:stream';
import type { ServerChannel, TcpipRequestInfo } from 'ssh2';
import type { BackendConnection } from '../backends/index.ts';
import { errorFields, type Logger } from '../observability/index.ts';
import type { ChannelTap } from '../audit/index.ts';

/**
 * A `direct-tcpip` channel (ssh -L, -D): opened on the backend's side, then relayed both
 * ways. Refused where the backend offers no forwarding, so nothing reaches the gateway's
 * own network.
 */
export async function handleDirectTcpip(
  accept: () => ServerChannel,
  reject: () => void,
  info: TcpipRequestInfo,
  backend: Promise<BackendConnection>,
  log: Logger,
  audit?: ChannelTap,
): Promise<void> {
  let upstream: Duplex;
  try {
    const connection = await backend;
    if (!connection.forwardTcp) throw new Error('this backend offers no TCP forwarding');
    upstream = await connection.forwardTcp({
      destination: { host: info.destIP, port: info.destPort },
      origin: { host: info.srcIP, port: info.srcPort },
    });
  } catch (error) {
    log.info({ code: 'SSH_FORWARD_REJECTED', port: info.destPort, ...errorFields(error) }, 'forward refused');
    audit?.close();
    return reject();
  }
  const channel = accept();
  audit?.streams({ stdin: channel, stdout: upstream });
  channel.once('close', () => audit?.close());
  channel.on('error', () => upstream.destroy());
  upstream.on('error', () => channel.destroy());
  channel.pipe(upstream).pipe(channel);
}
