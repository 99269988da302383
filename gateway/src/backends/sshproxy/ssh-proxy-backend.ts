import ssh2, { type ClientChannel } from 'ssh2';
import type { SshProxyConfig } from '@portcullis/wire';
import { GatewayError } from '../../errors.ts';
import { errorFields, type Logger } from '../../observability/index.ts';
import type { Duplex } from 'node:stream';
import type { Backend, BackendConnection, BackendSession, ConnectionRequest, ForwardEndpoints, SessionProgram } from '../backend.ts';
import { fingerprintOf, isPinned } from './host-key-pin.ts';
import { ProxySession } from './proxy-session.ts';

/**
 * SSH proxy backend: each SSH connection becomes one connection to the upstream server the
 * config names, whose host key must match a pinned fingerprint. The gateway sees every
 * byte in clear, so audit works as for containers.
 */
export class SshProxyBackend implements Backend {
  readonly name = 'sshproxy';

  /** `gatewayKey`: the gateway's own private key, used when the config carries no credential. */
  constructor(
    private readonly log: Logger,
    private readonly gatewayKey?: string,
  ) {}

  async openConnection(request: ConnectionRequest): Promise<BackendConnection> {
    let proxy = request.config.sshproxy;
    if (request.config.backend !== 'sshproxy' || !proxy) {
      throw new GatewayError('CONFIG_UNSUPPORTED', 'Session refused: the configuration names no upstream server.');
    }
    if (proxy.password === undefined && proxy.privateKey === undefined) {
      if (!this.gatewayKey) {
        throw new GatewayError('CONFIG_UNSUPPORTED', 'Session refused: there is no credential for your server.', {
          cause: new Error('the sshproxy config has no password or privateKey and the gateway holds no key (sshproxy.privateKeyFile)'),
        });
      }
      proxy = { ...proxy, privateKey: this.gatewayKey };
    }
    const log = this.log.child({ backend: 'sshproxy', upstream: `${proxy.server}:${proxy.port}` });
    log.debug({ code: 'SSHPROXY_CONNECTING' }, 'connecting upstream');
    const client = await connectUpstream(proxy, request.authenticatedUsername, log);
    return new ProxyConnection(client, log);
  }
}

function connectUpstream(proxy: SshProxyConfig, username: string, log: Logger): Promise<ssh2.Client> {
  const client = new ssh2.Client();
  let presented: string | undefined;
  return new Promise((resolve, reject) => {
    client.once('ready', () => resolve(client));
    client.once('error', (error: Error & { level?: string }) => {
      client.end();
      if (presented !== undefined && !isPinned(presented, proxy.allowedHostKeyFingerprints)) {
        log.error({ code: 'SSHPROXY_INVALID_FINGERPRINT', presented }, 'upstream host key not pinned');
        return reject(new GatewayError('SSHPROXY_INVALID_FINGERPRINT', `Could not reach your server: its host key ${presented} does not match the pinned fingerprint.`, { cause: error }));
      }
      if (error.level === 'client-authentication') {
        return reject(new GatewayError('SSHPROXY_BACKEND_HANDSHAKE_FAILED', 'Could not reach your server: it refused the login.', { cause: error }));
      }
      reject(new GatewayError('SSHPROXY_BACKEND_FAILED', 'Could not reach your server.', { cause: error }));
    });
    client.connect({
      host: proxy.server,
      port: proxy.port,
      username: proxy.usernamePassThrough ? username : proxy.username!,
      ...(proxy.password !== undefined ? { password: proxy.password } : {}),
      ...(proxy.privateKey !== undefined ? { privateKey: proxy.privateKey } : {}),
      readyTimeout: proxy.timeout,
      hostVerifier: (key: Buffer) => {
        presented = fingerprintOf(key);
        return isPinned(presented, proxy.allowedHostKeyFingerprints);
      },
    });
    // As on the listener: SFTP's small replies must not wait for the previous one's acknowledgement.
    client.setNoDelay(true);
  });
}

class ProxyConnection implements BackendConnection {
  /** The upstream sshd applies its own AcceptEnv. */
  readonly passesClientEnvironment = true;
  private readonly sessions = new Set<BackendSession>();

  constructor(
    private readonly client: ssh2.Client,
    private readonly log: Logger,
  ) {
    client.on('error', (error: Error) => log.debug({ code: 'SSHPROXY_BACKEND_FAILED', ...errorFields(error) }, 'upstream connection failed'));
  }

  async startSession(program: SessionProgram): Promise<BackendSession> {
    const channel = await new Promise<ClientChannel>((resolve, reject) => {
      const done = (error: Error | undefined, opened: ClientChannel) => (error ? reject(error) : resolve(opened));
      const pty = program.pty ? { term: program.pty.term, cols: program.pty.cols, rows: program.pty.rows } : undefined;
      const env = { ...program.env };
      if (program.subsystem !== undefined) this.client.subsys(program.subsystem, done);
      else if (program.command === null) this.client.shell(pty ?? false, { env }, done);
      else this.client.exec(program.command, { env, ...(pty ? { pty } : {}) }, done);
    }).catch((cause: unknown) => {
      throw new GatewayError('SSHPROXY_BACKEND_SESSION_FAILED', 'Your server refused to start the session.', { cause });
    });
    const session = new ProxySession(channel, this.log);
    this.sessions.add(session);
    void session.exited.finally(() => this.sessions.delete(session));
    return session;
  }

  /** The upstream sshd applies its own AllowTcpForwarding and PermitOpen. */
  forwardTcp({ destination, origin }: ForwardEndpoints): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      this.client.forwardOut(origin.host, origin.port, destination.host, destination.port, (error, channel) => {
        if (error) {
          this.log.info({ code: 'SSHPROXY_BACKEND_FORWARD_FAILED', ...errorFields(error) }, 'upstream refused a forward');
          return reject(error);
        }
        resolve(channel);
      });
    });
  }

  async close(): Promise<void> {
    for (const session of this.sessions) session.destroy();
    this.client.end();
  }
}
