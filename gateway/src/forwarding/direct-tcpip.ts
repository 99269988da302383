import type { Duplex, Writable } from 'node:stream';
import type { ServerChannel, TcpipRequestInfo } from 'ssh2';
import type { BackendConnection } from '../backends/index.ts';
import { errorFields, type Logger } from '../observability/index.ts';
import type { ChannelTap } from '../audit/index.ts';
import { connectThroughAgent } from './guest-agent.ts';
import { ChannelGuard } from '../channel/channel-guard.ts';

/**
 * A `direct-tcpip` channel (ssh -L, -D): opened on the backend's side, then relayed both
 * ways. Refused where the backend offers no forwarding, so nothing reaches the gateway's
 * own network. With `guestAgent` (the policy enabled forwarding), a container backend
 * connects from inside the container through the guest agent.
 */
export async function handleDirectTcpip(
  accept: () => ServerChannel | undefined,
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
  if (!channel) {
    // The client left while the forward was opened: nothing to relay to.
    upstream.destroy();
    options.audit?.close();
    return;
  }
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
 * failing tears down the other. Writes to an ssh2 channel go through a ChannelGuard: after
 * the client left they are dropped instead of thrown, and EOF follows the last byte taken.
 */
export function relay(channel: ChannelLike, upstream: Duplex): void {
  let upstreamDone = false;
  let clientDone = false;
  // A fault ends this relay only: the connection's own handlers see the client leave.
  const guard = isSsh2Channel(channel) ? new ChannelGuard(channel, undefined, () => upstream.destroy()) : undefined;
  const toClient: Writable = guard ? guard.sink('stdout') : channel;
  const safely = (action: () => void) => {
    try {
      action();
    } catch {
      upstream.destroy();
    }
  };
  const finish = () => {
    if (upstreamDone && clientDone && !channel.writableEnded) safely(() => channel.end());
  };
  let eofSent = false;
  /** EOF to the client only once everything written before it has left. */
  const sendEof = () => {
    if (eofSent) return;
    eofSent = true;
    const eof = () => {
      if (!guard || guard.open) safely(() => (channel.eof ? channel.eof() : channel.end()));
      finish();
    };
    if (toClient.writableFinished) return eof();
    toClient.once('finish', eof);
    toClient.end();
  };
  channel.on('error', () => upstream.destroy());
  upstream.on('error', () => safely(() => channel.destroy()));
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
  upstream.pipe(toClient, { end: false });
}

function isSsh2Channel(channel: ChannelLike): channel is ServerChannel {
  return typeof (channel as { outgoing?: unknown }).outgoing === 'object';
}
