import type { Duplex } from 'node:stream';
import type { ServerChannel, TcpipRequestInfo } from 'ssh2';
import type { BackendConnection } from '../backends/index.ts';
import { errorFields, type Logger } from '../observability/index.ts';
import type { ChannelTap } from '../audit/index.ts';
import { connectThroughAgent } from './guest-agent.ts';

/**
 * A `direct-tcpip` channel (ssh -L, -D): opened on the backend's side, then relayed both
 * ways. Refused where the backend offers no forwarding, so nothing reaches the gateway's
 * own network. With `guestAgent` (the policy enabled forwarding), a container backend
 * connects from inside the container through the guest agent.
 */
export async function handleDirectTcpip(
  accept: () => ServerChannel,
  reject: () => void,
  info: TcpipRequestInfo,
  backend: Promise<BackendConnection>,
  log: Logger,
  options: { readonly guestAgent?: boolean; readonly audit?: ChannelTap } = {},
): Promise<void> {
  let upstream: Duplex;
  try {
    const connection = await backend;
    if (connection.forwardTcp) {
      upstream = await connection.forwardTcp({
        destination: { host: info.destIP, port: info.destPort },
        origin: { host: info.srcIP, port: info.srcPort },
      });
    } else if (options.guestAgent && connection.runHelper) {
      upstream = await connectThroughAgent(connection, { host: info.destIP, port: info.destPort });
    } else {
      throw new Error('this backend offers no TCP forwarding');
    }
  } catch (error) {
    log.info({ code: 'SSH_FORWARD_REJECTED', port: info.destPort, ...errorFields(error) }, 'forward refused');
    options.audit?.close();
    return reject();
  }
  const channel = accept();
  options.audit?.streams({ stdin: channel, stdout: upstream });
  channel.once('close', () => options.audit?.close());
  relay(channel, upstream);
}

/** The ssh2 side of a relay: a channel (its `eof` sends EOF without closing) or any stream. */
type ChannelLike = (ServerChannel | Duplex) & { eof?: () => void };

/**
 * Both ways, with half-close: ssh2 ends a server-side channel with EOF and CLOSE at once,
 * which would drop a reply still coming from the client after the container side stopped
 * sending, so the channel gets only EOF until both directions are done. Either side
 * failing tears down the other.
 */
export function relay(channel: ChannelLike, upstream: Duplex): void {
  let upstreamDone = false;
  let clientDone = false;
  const finish = () => {
    if (upstreamDone && clientDone && !channel.writableEnded) channel.end();
  };
  /** EOF to the client only once everything written before it has left. */
  const sendEof = () => {
    if (channel.writableLength > 0) return void channel.once('drain', sendEof);
    if (channel.eof) channel.eof();
    else channel.end();
    finish();
  };
  channel.on('error', () => upstream.destroy());
  upstream.on('error', () => channel.destroy());
  channel.on('close', () => upstream.destroy());
  upstream.on('close', () => {
    upstreamDone = true;
    clientDone = true;
    if (!channel.writableEnded) sendEof();
  });
  channel.on('end', () => {
    clientDone = true;
    finish();
  });
  upstream.on('end', () => {
    upstreamDone = true;
    sendEof();
  });
  channel.pipe(upstream);
  upstream.pipe(channel, { end: false });
}
