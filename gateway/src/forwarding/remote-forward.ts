import type { Duplex } from 'node:stream';
import type { Connection } from 'ssh2';
import type { BackendConnection } from '../backends/index.ts';
import type { SecurityPolicy } from '../filters/index.ts';
import { errorFields, type Logger } from '../observability/index.ts';
import { relay } from './direct-tcpip.ts';
import { listenThroughAgent, logBrokenListener, type AgentListener } from './guest-agent.ts';

type Accept = ((port?: number) => void) | undefined;
type Reject = (() => void) | undefined;

/**
 * `tcpip-forward` and `streamlocal-forward@openssh.com` (ssh -R): the guest agent listens
 * inside the container, and every connection it accepts becomes a forwarded-tcpip or
 * forwarded-streamlocal channel to the client. Everything closes with the connection.
 */
export class RemoteForwards {
  private readonly listeners = new Map<string, Promise<AgentListener>>();

  constructor(
    private readonly client: Connection,
    private readonly backend: Promise<BackendConnection>,
    private readonly policy: SecurityPolicy,
    private readonly log: Logger,
  ) {}

  /** The handler for the connection's `request` event. */
  readonly handle = (accept: Accept, reject: Reject, name: string, info: unknown): void => {
    const data = info as { bindAddr?: string; bindPort?: number; socketPath?: string };
    if (name === 'cancel-tcpip-forward' || name === 'cancel-streamlocal-forward@openssh.com') {
      const key = name === 'cancel-tcpip-forward' ? `tcp:${data.bindAddr}:${data.bindPort}` : `unix:${data.socketPath}`;
      const listener = this.listeners.get(key);
      this.listeners.delete(key);
      void listener?.then(
        (open) => open.close(),
        () => undefined,
      );
      if (listener) accept?.();
      else reject?.();
      return;
    }
    const kind = name === 'tcpip-forward' ? 'tcpip-forward' : name === 'streamlocal-forward@openssh.com' ? 'streamlocal-forward' : undefined;
    if (!kind) {
      reject?.();
      return;
    }
    if (this.policy.forwarding(kind) !== 'allow') {
      this.log.info({ code: 'SECURITY_REVERSE_FORWARDING_REJECTED', kind }, 'remote forward refused by policy');
      reject?.();
      return;
    }
    void this.listen(kind, data).then(
      (port) => accept?.(port),
      (error: unknown) => {
        this.log.info({ code: 'SSH_FORWARD_REJECTED', kind, ...errorFields(error) }, 'remote forward failed');
        reject?.();
      },
    );
  };

  private async listen(kind: 'tcpip-forward' | 'streamlocal-forward', data: { bindAddr?: string; bindPort?: number; socketPath?: string }): Promise<number | undefined> {
    const connection = await this.backend;
    if (kind === 'streamlocal-forward') {
      const socketPath = data.socketPath ?? '';
      const key = `unix:${socketPath}`;
      const listener = listenThroughAgent(
        connection,
        { path: socketPath },
        (stream) => this.open(stream, (cb) => this.client.openssh_forwardOutStreamLocal(socketPath, cb)),
        (error) => this.broken(key, kind, error),
      );
      this.listeners.set(key, listener);
      await listener.catch((error: unknown) => {
        this.listeners.delete(key);
        throw error;
      });
      return undefined;
    }
    // OpenSSH's GatewayPorts=no: "" and "localhost" mean loopback inside the container.
    const requested = data.bindAddr ?? '';
    const host = requested === '' || requested === 'localhost' ? '127.0.0.1' : requested;
    const port = data.bindPort ?? 0;
    let boundPort = port;
    const key = `tcp:${requested}:${port}`;
    const listener = listenThroughAgent(
      connection,
      { host, port },
      (stream, peer) => this.open(stream, (cb) => this.client.forwardOut(requested, boundPort, peer.host, peer.port, cb)),
      (error) => this.broken(key, kind, error),
    );
    this.listeners.set(key, listener);
    const open = await listener.catch((error: unknown) => {
      this.listeners.delete(key);
      throw error;
    });
    boundPort = Number(open.bound);
    return port === 0 ? boundPort : undefined;
  }

  /** The guest agent broke its protocol after listening: the forward is gone, and the operator is told why. */
  private broken(key: string, kind: string, error: Error): void {
    this.listeners.delete(key);
    logBrokenListener(this.log, kind)(error);
  }

  private open(stream: Duplex, openChannel: (cb: (error: Error | undefined, channel: Duplex) => void) => void): void {
    try {
      openChannel((error, channel) => {
        if (error) {
          this.log.debug({ code: 'SSH_FORWARD_REJECTED', ...errorFields(error) }, 'client refused a forwarded connection');
          return stream.destroy();
        }
        relay(channel, stream);
      });
    } catch (error) {
      // The client left: ssh2 throws on a channel open after its transport is gone.
      this.log.debug({ code: 'SSH_FORWARD_REJECTED', ...errorFields(error) }, 'the client is gone; forwarded connection dropped');
      stream.destroy();
    }
  }

  closeAll(): void {
    for (const listener of this.listeners.values())
      void listener.then(
        (open) => open.close(),
        () => undefined,
      );
    this.listeners.clear();
  }
}
