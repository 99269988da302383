import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import ssh2, { type Connection, type ClientInfo } from 'ssh2';
import type { Logger } from '../observability/index.ts';
import { acceptingProxyProtocol, type ProxyProtocolOptions } from './proxy-protocol.ts';

export interface ListenerOptions {
  readonly hostKeys: Buffer[];
  readonly host: string;
  readonly port: number;
  /** Connections that have not finished logging in, at once; more are dropped at once. */
  readonly maxStartups: number;
  readonly banner?: string;
  /** Probe a silent client this often; after `countMax` unanswered probes it is dropped. */
  readonly clientAlive?: { readonly intervalMs: number; readonly countMax: number };
  readonly log: Logger;
  /**
   * Time a TCP connection has to send its SSH identification. ssh2 surfaces a connection only
   * once it identified, so without this a client that connects and stays silent would hold a
   * socket forever, outside maxStartups and the login grace time.
   */
  readonly identificationTimeoutMs?: number;
  /** Called when a TCP connection closes without ever sending an SSH identification (for metrics). */
  readonly onUnidentifiedClose?: () => void;
  /** Takes over a connection; returns a function to call when it has logged in or closed. */
  readonly onConnection: (client: Connection, info: ClientInfo) => void;
  /** Behind a load balancer: the client's address comes from a PROXY protocol header (proxy-protocol.ts). */
  readonly proxyProtocol?: Omit<ProxyProtocolOptions, 'log'>;
}

export interface SshListener {
  readonly port: number;
  close(): Promise<void>;
}

/** The TCP and SSH transport edge: host keys, identification, pre-auth limits. */
export async function startSshListener(options: ListenerOptions): Promise<SshListener> {
  let unauthenticated = 0;
  const server = new ssh2.Server(
    {
      hostKeys: options.hostKeys,
      // Identification string without a version: nothing to fingerprint for an attacker.
      ident: 'Portcullis',
      ...(options.banner ? { banner: options.banner } : {}),
      // ssh2 sends keepalive@openssh.com after this much silence and ends the connection
      // with a `client-timeout` error once countMax probes went unanswered.
      ...(options.clientAlive ? { keepaliveInterval: options.clientAlive.intervalMs, keepaliveCountMax: options.clientAlive.countMax } : {}),
    } as ssh2.ServerConfig,
    (client, info) => {
      // Identified in time: the login grace time (handleConnection) takes over from here.
      const key = `${info.ip}:${info.port}`;
      const accepted = identifying.get(key);
      identifying.delete(key);
      if (accepted) clearTimeout(accepted.timer);
      client.once('ready', () => accepted?.release());
      options.onConnection(client, info);
    },
  );
  // A client that breaks the protocol before identification must not take the gateway down.
  server.on('error', (error: Error) => options.log.debug({ code: 'SSH_CONNECTION_ERROR', error: { message: error.message } }, 'listener error'));

  // The gateway owns the TCP listener and hands each socket to ssh2, so that every accepted
  // connection counts toward maxStartups (as in OpenSSH) and has a deadline from its first byte.
  const identifying = new Map<string, { timer: NodeJS.Timeout; release: () => void }>();
  const accept = (socket: Socket) => {
    if (unauthenticated >= options.maxStartups) {
      options.log.warn({ code: 'SSH_MAX_STARTUPS', limit: options.maxStartups }, 'too many unauthenticated connections');
      socket.destroy();
      return;
    }
    unauthenticated += 1;
    let counted = true;
    const release = () => {
      if (counted) {
        counted = false;
        unauthenticated -= 1;
      }
    };
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    const timer = setTimeout(() => {
      options.log.info({ code: 'SSH_LOGIN_GRACE_EXPIRED', stage: 'identification' }, 'no SSH identification in time');
      socket.destroy();
    }, options.identificationTimeoutMs ?? 60_000);
    identifying.set(key, { timer, release });
    socket.once('close', () => {
      clearTimeout(timer);
      if (identifying.get(key)?.timer === timer) {
        identifying.delete(key);
        options.onUnidentifiedClose?.();
      }
      release();
    });
    socket.on('error', () => undefined);
    server.injectSocket(socket);
  };
  const tcp = createServer(options.proxyProtocol ? acceptingProxyProtocol({ ...options.proxyProtocol, log: options.log }, accept) : accept);
  tcp.listen(options.port, options.host);
  await once(tcp, 'listening');
  const address = tcp.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    port,
    close: () => new Promise((resolve) => tcp.close(() => resolve())),
  };
}
