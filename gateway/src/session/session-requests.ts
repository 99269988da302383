import type { PseudoTtyInfo, Session, WindowChangeInfo, X11Info } from 'ssh2';
import type { ChannelTap } from '../audit/index.ts';
import type { SessionProgram } from '../backends/index.ts';
import type { Refusal, SecurityPolicy } from '../filters/index.ts';
import type { Logger } from '../observability/index.ts';

/** Client `env` requests kept per session; more are refused. */
const MAX_CLIENT_ENV = 64;

export interface SessionRequestFilterOptions {
  readonly log: Logger;
  /** The audit recorder's view of this channel. */
  readonly audit?: ChannelTap | undefined;
  /** The config's security filters; absent allows what the backend allows. */
  readonly policy?: SecurityPolicy | undefined;
  /** Whether agent and X11 forwarding can be set up at all for this session. */
  readonly forwardingAvailable: boolean;
  /** True once the program was asked for: later setup requests are refused. */
  started(): boolean;
  /** A window-change came while a pty is set (the running program is resized). */
  onWindowChange(pty: NonNullable<SessionProgram['pty']>): void;
}

/** Logs a policy refusal under its code. */
export function logRefusal(log: Logger, refusal: Refusal, fields: Record<string, unknown> = {}): void {
  log.info({ code: refusal.code, ...fields }, refusal.message);
}

/**
 * The security filter in front of a session's setup requests (pty, window-change, env, agent
 * and X11 forwarding): each is recorded, checked against the policy, and what passes is kept
 * for the program the channel starts. Requests with no listener here are refused by ssh2.
 */
export class SessionRequests {
  pty: SessionProgram['pty'];
  // Keyed by client-chosen names: Maps, so `constructor` or `__proto__` are names like any other.
  /** `env` requests, used only where the backend passes them on (see BackendConnection). */
  readonly clientEnv = new Map<string, string>();
  /** `env` requests the policy explicitly allows: passed on whatever the backend. */
  readonly allowedEnv = new Map<string, string>();
  agentRequested = false;
  x11Request: X11Info | undefined;

  constructor(session: Session, options: SessionRequestFilterOptions) {
    const { log, audit, policy } = options;
    session.on('auth-agent', (accept, reject) => {
      if (options.started() || !options.forwardingAvailable || policy?.forwarding('agent') !== 'allow') {
        log.info({ code: 'SECURITY_AGENT_FORWARDING_REJECTED' }, 'agent forwarding refused');
        return reject?.();
      }
      this.agentRequested = true;
      accept?.();
    });

    session.on('x11', (accept, reject, info: X11Info) => {
      if (options.started() || !options.forwardingAvailable || policy?.forwarding('x11') !== 'allow') {
        log.info({ code: 'SECURITY_X11_FORWARDING_REJECTED' }, 'X11 forwarding refused');
        return reject?.();
      }
      this.x11Request = info;
      accept?.();
    });

    session.on('pty', (accept, reject, info: PseudoTtyInfo) => {
      if (options.started()) return reject?.();
      const refusal = policy?.tty();
      if (refusal) {
        logRefusal(log, refusal);
        return reject?.();
      }
      this.pty = { term: info.term || 'xterm', cols: info.cols || 80, rows: info.rows || 24 };
      audit?.request('pty', this.pty);
      accept?.();
    });

    session.on('window-change', (accept, _reject, info: WindowChangeInfo) => {
      if (this.pty) this.pty = { ...this.pty, cols: info.cols, rows: info.rows };
      audit?.request('window-change', { cols: info.cols, rows: info.rows });
      // Before the program runs the size only changes what it starts with; after, coalesced.
      if (this.pty) options.onWindowChange(this.pty);
      accept?.();
    });

    // OpenSSH sends env with want-reply false, as sshd silently drops what AcceptEnv does not allow.
    session.on('env', (accept, reject, info) => {
      const acceptable = !options.started() && this.clientEnv.size < MAX_CLIENT_ENV && /^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(info.key) && info.val.length <= 4096;
      if (!acceptable) return reject?.();
      const verdict = policy?.env(info.key) ?? 'unset';
      if (verdict === 'deny') {
        log.info({ code: 'SECURITY_ENV_REJECTED', name: info.key }, 'env request refused by policy');
        return reject?.();
      }
      if (verdict === 'allow') this.allowedEnv.set(info.key, info.val);
      this.clientEnv.set(info.key, info.val);
      audit?.request('env', { name: info.key, value: info.val });
      accept?.();
    });
  }
}
