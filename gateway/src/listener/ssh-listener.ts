import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import ssh2, { type Connection, type ClientInfo } from 'ssh2';
import type { Logger } from '../observability/index.ts';
import { acceptingProxyProtocol, type ProxyProtocolOptions } from './proxy-protocol.ts';
import { limitInflatedPackets } from './inflate-limit.ts';
import { LocalSourceAdmission, type AdmissionTicket, type AdmissionVerdict, type SourceAdmission } from './source-admission.ts';
import type { PenaltySettings } from './source-penalties.ts';
import type { StartupLimits } from './startup-gate.ts';

export interface ListenerOptions {
  readonly hostKeys: Buffer[];
  readonly host: string;
  readonly port: number;
  /** Unauthenticated connections in total (start:rate:full) and per source block. */
  readonly maxStartups: StartupLimits;
  /** Prefix lengths a source address is grouped by (OpenSSH PerSourceNetBlockSize). */
  readonly sourceBlockBits?: { readonly ipv4: number; readonly ipv6: number };
  /** Per-source penalties; off when absent. `exempt` CIDRs never earn one. */
  readonly penalties?: PenaltySettings & { readonly exempt: readonly string[] };
  /**
   * `delayed`: zlib@openssh.com only, which starts after login (OpenSSH's default since 7.4);
   * plain `zlib` would make the gateway inflate whatever an anonymous client sends. `none`: off.
   */
  readonly compression?: 'delayed' | 'none';
  readonly banner?: string;
  /** Probe a silent client this often; after `countMax` unanswered probes it is dropped. */
  readonly clientAlive?: { readonly intervalMs: number; readonly countMax: number };
  readonly log: Logger;
  /**
   * Time from TCP accept to a successful login. ssh2 surfaces a connection only once it
   * identified, so the listener keeps this clock itself: a client that connects and stays
   * silent must not hold a slot forever.
   */
  readonly loginGraceTimeMs?: number;
  /** Called when a TCP connection closes without ever sending an SSH identification (for metrics). */
  readonly onUnidentifiedClose?: () => void;
  /** Takes over a connection; `attempt.authFailed()` reports rejected credentials (for penalties). */
  readonly onConnection: (client: Connection, info: ClientInfo, attempt: LoginAttempt) => void;
  /** Where the source checks are counted; default: this listener's own (a single process). */
  readonly admission?: SourceAdmission;
  /** Behind a load balancer: the client's address comes from a PROXY protocol header (proxy-protocol.ts). */
  readonly proxyProtocol?: Omit<ProxyProtocolOptions, 'log'>;
}

/** What the connection handler tells the listener about a login in progress. */
export interface LoginAttempt {
  /** > 0: the source is penalised for failed logins, so password and keyboard-interactive attempts are refused for this long (ms). */
  readonly passwordsRefusedMs: number;
  /** Credentials were rejected; if the connection closes without a login, its source is penalised. */
  authFailed(): void;
  /** A password was refused for the source's penalty: the connection then costs its source nothing more. */
  refusedForPenalty(): void;
}

export interface SshListener {
  readonly port: number;
  close(): Promise<void>;
}

interface Pending {
  readonly timer: NodeJS.Timeout;
  readonly state: ConnectionState;
}

interface ConnectionState {
  identified: boolean;
  loggedIn: boolean;
  authFailed: boolean;
  refusedForPenalty: boolean;
  graceExpired: boolean;
  readonly ticket: AdmissionTicket;
}

/** ssh2's server behind the pre-auth checks, without a TCP listener of its own. */
export interface SshEdge {
  /** A new TCP connection: its source is checked, then it is served or dropped. */
  accept(socket: Socket): void;
  /** A connection already admitted (by the cluster primary): served after `delayMs`. */
  serveAdmitted(socket: Socket, ticket: AdmissionTicket, delayMs: number): void;
}

/**
 * The SSH transport edge: host keys, identification, login grace time, and the source checks
 * (`options.admission`, else the listener's own counters from `maxStartups` and `penalties`).
 */
export function createSshEdge(options: ListenerOptions): SshEdge {
  limitInflatedPackets();
  const admission = options.admission ?? new LocalSourceAdmission({ ...options, log: options.log });
  const graceMs = options.loginGraceTimeMs ?? 60_000;
  const pending = new Map<string, Pending>();

  const server = new ssh2.Server(
    {
      hostKeys: options.hostKeys,
      // Identification string without a version: nothing to fingerprint for an attacker.
      ident: 'Portcullis',
      algorithms: { compress: options.compression === 'none' ? ['none'] : ['none', 'zlib@openssh.com'] },
      ...(options.banner ? { banner: options.banner } : {}),
      // ssh2 sends keepalive@openssh.com after this much silence and ends the connection
      // with a `client-timeout` error once countMax probes went unanswered.
      ...(options.clientAlive ? { keepaliveInterval: options.clientAlive.intervalMs, keepaliveCountMax: options.clientAlive.countMax } : {}),
    } as ssh2.ServerConfig,
    (client, info) => {
      const key = `${info.ip}:${info.port}`;
      const entry = pending.get(key);
      pending.delete(key);
      if (!entry) return void client.end();
      entry.state.identified = true;
      client.once('ready', () => {
        entry.state.loggedIn = true;
        clearTimeout(entry.timer);
        entry.state.ticket.loggedIn();
      });
      const { state } = entry;
      options.onConnection(client, info, {
        passwordsRefusedMs: state.ticket.passwordsRefusedMs,
        authFailed: () => void (state.authFailed = true),
        refusedForPenalty: () => void (state.refusedForPenalty = true),
      });
    },
  );
  // A client that breaks the protocol before identification must not take the gateway down.
  server.on('error', (error: Error) => options.log.debug({ code: 'SSH_CONNECTION_ERROR', error: { message: error.message } }, 'listener error'));

  /** Hands an admitted socket to ssh2 with the login grace clock running from accept. */
  const serve = (socket: Socket, ticket: AdmissionTicket) => {
    if (socket.destroyed) return ticket.closed();
    const state: ConnectionState = { identified: false, loggedIn: false, authFailed: false, refusedForPenalty: false, graceExpired: false, ticket };
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    const timer = setTimeout(() => {
      state.graceExpired = true;
      options.log.info({ code: 'SSH_LOGIN_GRACE_EXPIRED', stage: state.identified ? 'login' : 'identification', remoteAddress: socket.remoteAddress }, 'login grace time expired');
      socket.destroy();
    }, graceMs);
    pending.set(key, { timer, state });
    // SFTP and scp answer every 32 KiB write request with a small status packet; held back
    // by Nagle until the previous one is acknowledged, they throttle the whole upload.
    socket.setNoDelay(true);
    socket.once('close', () => {
      clearTimeout(timer);
      if (pending.get(key)?.timer === timer) {
        pending.delete(key);
        options.onUnidentifiedClose?.();
      }
      // Passwords refused for a penalty earn nothing more: the penalty runs out as it was, never renewed by the attempts it refuses.
      const penalty = state.loggedIn ? undefined : state.graceExpired ? 'grace-exceeded' : state.authFailed ? 'authfail' : state.refusedForPenalty ? undefined : 'noauth';
      ticket.closed(penalty);
    });
    server.injectSocket(socket);
  };

  const serveAdmitted = (socket: Socket, ticket: AdmissionTicket, delayMs: number) => {
    socket.on('error', () => undefined);
    if (delayMs <= 0) return serve(socket, ticket);
    const closedEarly = () => {
      clearTimeout(wait);
      ticket.closed();
    };
    const wait = setTimeout(() => {
      socket.off('close', closedEarly);
      serve(socket, ticket);
    }, delayMs);
    socket.once('close', closedEarly);
  };

  // Every accepted connection counts toward maxStartups (as in OpenSSH) and has a deadline from its first byte.
  const accept = (socket: Socket) => {
    socket.on('error', () => undefined);
    const decide = (verdict: AdmissionVerdict) => (verdict.admitted ? serveAdmitted(socket, verdict.ticket, verdict.delayMs) : socket.destroy());
    const verdict = admission.admit(socket.remoteAddress ?? '');
    if ('then' in verdict) {
      verdict.then(decide, (error: unknown) => {
        options.log.warn({ code: 'SSH_CONNECTION_ERROR', error: { message: error instanceof Error ? error.message : String(error) } }, 'source admission failed; connection dropped');
        socket.destroy();
      });
    } else {
      decide(verdict);
    }
  };
  return { accept, serveAdmitted };
}

/** The TCP and SSH transport edge of a single-process gateway: host keys, identification, pre-auth limits. */
export async function startSshListener(options: ListenerOptions): Promise<SshListener> {
  const { accept } = createSshEdge(options);
  const tcp = createServer(options.proxyProtocol ? acceptingProxyProtocol({ ...options.proxyProtocol, log: options.log }, accept) : accept);
  // A backlog as deep as the kernel allows (net.core.somaxconn caps it), as OpenSSH's listen
  // does: a burst of connects then waits to be accepted instead of being reset (Node's default is 511).
  tcp.listen({ port: options.port, host: options.host, backlog: 4096 });
  await once(tcp, 'listening');
  const address = tcp.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    port,
    close: () => new Promise((resolve) => tcp.close(() => resolve())),
  };
}
