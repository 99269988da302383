import { once } from 'node:events';
import ssh2, { type Connection, type ClientInfo } from 'ssh2';
import type { Logger } from '../observability/index.ts';

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
  /** Takes over a connection; returns a function to call when it has logged in or closed. */
  readonly onConnection: (client: Connection, info: ClientInfo) => void;
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
      if (unauthenticated >= options.maxStartups) {
        options.log.warn({ code: 'SSH_MAX_STARTUPS', limit: options.maxStartups }, 'too many unauthenticated connections');
        client.end();
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
      client.once('ready', release);
      client.once('close', release);
      options.onConnection(client, info);
    },
  );
  // A client that breaks the protocol before identification must not take the gateway down.
  server.on('error', (error: Error) => options.log.debug({ code: 'SSH_CONNECTION_ERROR', error: { message: error.message } }, 'listener error'));
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
