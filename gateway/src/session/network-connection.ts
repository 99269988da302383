import type { ClientInfo, Connection } from 'ssh2';
import { connectionErrorLevel, errorFields, type GatewayMetrics, type Logger } from '../observability/index.ts';
import { connectionSocket } from '../ssh2-internals.ts';
import type { FaultStage } from '../channel/channel-guard.ts';
import { formatRemoteAddress, newConnectionId, type ConnectionIdentity } from '../identity/connection-identity.ts';

export interface NetworkConnectionOptions {
  readonly log: Logger;
  readonly metrics?: GatewayMetrics | undefined;
  readonly loginGraceTimeMs: number;
}

/**
 * The first stage: one accepted SSH transport, before and after login. It names the connection
 * (identity, logger), counts it, ends it when the login takes too long, and is the one place a
 * fault of this connection is contained: whatever fails, only this connection closes.
 */
export class NetworkConnection {
  readonly identity: ConnectionIdentity;
  /** The connection's logger; the login stage adds the user name once it is known. */
  log: Logger;
  /** Aborted when the client's socket ended or closed: ssh2 throws on any write after that. */
  readonly gone: AbortSignal;
  readonly acceptedAt = performance.now();
  private loggedIn = false;
  private readonly graceTimer: NodeJS.Timeout;

  constructor(
    readonly client: Connection,
    info: ClientInfo,
    private readonly options: NetworkConnectionOptions,
  ) {
    this.identity = {
      connectionId: newConnectionId(),
      remoteAddress: formatRemoteAddress(info.ip, info.port),
      ...(info.header?.identRaw ? { clientVersion: info.header.identRaw } : {}),
    };
    this.log = options.log.child({ connectionId: this.identity.connectionId, remoteAddress: this.identity.remoteAddress });
    this.log.debug({ code: 'SSH_CONNECTED' }, 'connection accepted');
    const gone = new AbortController();
    this.gone = gone.signal;
    client.once('end', () => gone.abort());
    client.once('close', () => gone.abort());
    options.metrics?.connectionOpened();
    this.graceTimer = setTimeout(() => {
      this.log.info({ code: 'SSH_LOGIN_GRACE_EXPIRED' }, 'login grace time expired');
      this.end();
    }, options.loginGraceTimeMs);
    client.on('error', (error) => {
      // ssh2 ends the connection after each of these; what it reports is counted by its level.
      const level = connectionErrorLevel(error);
      options.metrics?.connectionError(level);
      if (level === 'client-timeout') {
        this.log.info({ code: 'SSH_KEEPALIVE_TIMEOUT' }, 'client stopped answering keepalives');
        // ssh2 only half-closes; a frozen client never closes its side, so drop the socket.
        connectionSocket(client)?.destroy();
        return;
      }
      this.log.debug({ code: 'SSH_CONNECTION_ERROR', errorLevel: level, ...errorFields(error) }, 'connection error');
    });
  }

  /** Ends this connection only; ssh2's own end() throws once its protocol object is gone. */
  readonly end = (): void => {
    try {
      this.client.end();
    } catch {
      connectionSocket(this.client)?.destroy();
    }
  };

  /** Every fault of this connection ends here: one log code, one metric, this connection closed. */
  readonly containFault = (stage: FaultStage, error: unknown): void => {
    this.log.warn({ code: 'SSH_CONNECTION_FAULT_CONTAINED', stage, ...errorFields(error) }, 'connection fault contained: closing this connection');
    this.options.metrics?.connectionFaultContained(stage);
    connectionSocket(this.client)?.destroy();
  };

  /**
   * An ssh2 reply (accept, reject) made safe to call after an await: once the client is gone it
   * is not sent (ssh2 throws on any write then), and one that throws all the same is contained.
   */
  guardReply<A extends unknown[], R>(reply: (...args: A) => R): (...args: A) => R | undefined {
    return (...args) => {
      if (this.gone.aborted) return undefined;
      try {
        return reply(...args);
      } catch (error) {
        this.containFault('handler', error);
        return undefined;
      }
    };
  }

  /** The login finished (ssh2's `ready`): the grace timer stops and the connection counts as logged in. */
  loginFinished(): void {
    clearTimeout(this.graceTimer);
    this.loggedIn = true;
    this.options.metrics?.handshakeSucceeded();
    this.log.info({ code: 'SSH_HANDSHAKE_SUCCESSFUL' }, 'logged in');
  }

  /** ssh2's `ready` without a grant (or after the client left): nothing may start. */
  loginAbandoned(): void {
    clearTimeout(this.graceTimer);
    this.end();
  }

  /** The transport closed: timers stop and the connection is counted as closed. */
  closed(): void {
    clearTimeout(this.graceTimer);
    this.options.metrics?.connectionClosed(this.loggedIn);
  }

  /** The last line of the connection, once everything it created is cleaned up. */
  disconnected(): void {
    this.log.info({ code: 'SSH_DISCONNECTED' }, 'connection closed');
  }
}
