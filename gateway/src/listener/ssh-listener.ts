import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import ssh2, { type Connection, type ClientInfo } from 'ssh2';
import type { Logger } from '../observability/index.ts';
import { acceptingProxyProtocol, type ProxyProtocolOptions } from './proxy-protocol.ts';
import { limitInflatedPackets } from './inflate-limit.ts';
import { RefusalLog } from './refusal-log.ts';
import { inAnyRange, sourceBlock } from './source-block.ts';
import { SourcePenalties, type PenaltySettings } from './source-penalties.ts';
import { StartupGate, type StartupLimits } from './startup-gate.ts';

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
  /** Behind a load balancer: the client's address comes from a PROXY protocol header (proxy-protocol.ts). */
  readonly proxyProtocol?: Omit<ProxyProtocolOptions, 'log'>;
}

/** What the connection handler tells the listener about a login in progress. */
export interface LoginAttempt {
  /** Credentials were rejected; if the connection closes without a login, its source is penalised. */
  authFailed(): void;
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
  graceExpired: boolean;
  release(): void;
}

const DEFAULT_BLOCK_BITS = { ipv4: 32, ipv6: 64 } as const;

/** The TCP and SSH transport edge: host keys, identification, pre-auth limits. */
export async function startSshListener(options: ListenerOptions): Promise<SshListener> {
  limitInflatedPackets();
  const gate = new StartupGate(options.maxStartups);
  const penalties = options.penalties ? new SourcePenalties(options.penalties) : undefined;
  const exempt = options.penalties?.exempt ?? [];
  const bits = options.sourceBlockBits ?? DEFAULT_BLOCK_BITS;
  const refusals = new RefusalLog(options.log);
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
        entry.state.release();
      });
      options.onConnection(client, info, { authFailed: () => void (entry.state.authFailed = true) });
    },
  );
  // A client that breaks the protocol before identification must not take the gateway down.
  server.on('error', (error: Error) => options.log.debug({ code: 'SSH_CONNECTION_ERROR', error: { message: error.message } }, 'listener error'));

  /** Hands an admitted socket to ssh2 with the login grace clock running from accept. */
  const serve = (socket: Socket, block: string, exemptSource: boolean, release: () => void) => {
    const state: ConnectionState = { identified: false, loggedIn: false, authFailed: false, graceExpired: false, release };
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    const timer = setTimeout(() => {
      state.graceExpired = true;
      options.log.info({ code: 'SSH_LOGIN_GRACE_EXPIRED', stage: state.identified ? 'login' : 'identification' }, 'login grace time expired');
      socket.destroy();
    }, graceMs);
    pending.set(key, { timer, state });
    socket.once('close', () => {
      clearTimeout(timer);
      if (pending.get(key)?.timer === timer) {
        pending.delete(key);
        options.onUnidentifiedClose?.();
      }
      release();
      if (!state.loggedIn && penalties && !exemptSource) {
        penalties.penalize(block, state.graceExpired ? 'grace-exceeded' : state.authFailed ? 'authfail' : 'noauth');
      }
    });
    server.injectSocket(socket);
  };

  // The gateway owns the TCP listener and hands each socket to ssh2, so that every accepted
  // connection counts toward maxStartups (as in OpenSSH) and has a deadline from its first byte.
  const accept = (socket: Socket) => {
    socket.on('error', () => undefined);
    const address = socket.remoteAddress ?? '';
    const block = sourceBlock(address, bits.ipv4, bits.ipv6);
    const exemptSource = inAnyRange(address, exempt);
    const verdict = penalties && !exemptSource ? penalties.check(block) : { refused: false as const, delayMs: 0 };
    if (verdict.refused) {
      refusals.warn('SSH_SOURCE_PENALIZED', { source: block, retryAfterSeconds: Math.ceil(verdict.retryAfterMs / 1000) }, 'connection refused: its source is penalised');
      return void socket.destroy();
    }
    const admission = gate.admit(block);
    if (!admission.admitted) {
      if (admission.reason === 'per-source') {
        refusals.warn('SSH_PER_SOURCE_MAX_STARTUPS', { source: block, limit: options.maxStartups.perSource }, 'too many unauthenticated connections from one source');
      } else {
        refusals.warn('SSH_MAX_STARTUPS', { reason: admission.reason, unauthenticated: gate.unauthenticated, limit: options.maxStartups.full }, 'too many unauthenticated connections');
      }
      return void socket.destroy();
    }
    if (verdict.delayMs <= 0) return serve(socket, block, exemptSource, admission.release);
    // A penalised source waits before it is served, holding its slot meanwhile.
    const wait = setTimeout(() => (socket.destroyed ? admission.release() : serve(socket, block, exemptSource, admission.release)), verdict.delayMs);
    socket.once('close', () => {
      clearTimeout(wait);
      admission.release();
    });
  };
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
