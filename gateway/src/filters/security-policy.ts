import type { SecurityConfig, SecurityMode } from '@portcullis/wire';
import type { GatewayCode } from '../errors.ts';
import { parseDuration } from '@portcullis/kit';

/** Kinds of forwarding a client may ask for, each switched on or off by the policy. */
export type ForwardingKind = 'direct-tcpip' | 'tcpip-forward' | 'direct-streamlocal' | 'streamlocal-forward' | 'x11' | 'agent';

/** A refusal: the code it is logged under and a line the user may read. */
export interface Refusal {
  readonly code: GatewayCode;
  readonly message: string;
}

/**
 * `unset`: neither the section nor `defaultMode` names a mode, so the backend's own default
 * applies (an upstream sshd decides for itself; a container refuses env and forwarding).
 */
export type Verdict = 'allow' | 'deny' | 'unset';

const FORWARDING_MODE_KEYS = {
  'direct-tcpip': 'forwardingMode',
  'tcpip-forward': 'reverseForwardingMode',
  'direct-streamlocal': 'socketForwardingMode',
  'streamlocal-forward': 'socketListenMode',
  x11: 'x11ForwardingMode',
  agent: 'agentForwardingMode',
} as const;

function durationMs(text: string | undefined): number | undefined {
  return text === undefined ? undefined : parseDuration(text);
}

/** Limits from the gateway's own settings that hold whatever a policy says. */
export interface SecurityCeilings {
  readonly maxSessions?: number;
  readonly maxConnectionsPerUser?: number;
}

function lowest(policy: number | undefined, ceiling: number | undefined): number | undefined {
  if (policy === undefined) return ceiling;
  return ceiling === undefined ? policy : Math.min(policy, ceiling);
}

/**
 * The config webhook's `security` section as decisions, checked by the gateway before a
 * request reaches any backend. Modes follow ContainerSSH: `enable` allows all but `deny`,
 * `filter` allows only `allow`, `disable` refuses; a section with no mode takes `defaultMode`.
 */
export class SecurityPolicy {
  constructor(
    private readonly config: SecurityConfig = {},
    /** The gateway's own ceilings: a policy may lower them, never raise or remove them. */
    private readonly ceilings: SecurityCeilings = {},
  ) {}

  private mode(section: SecurityMode | undefined): SecurityMode {
    if (section) return section;
    return this.config.defaultMode ?? '';
  }

  private listed(mode: SecurityMode, name: string, filter: { allow?: string[]; deny?: string[] } | undefined): Verdict {
    if (mode === '') return 'unset';
    if (mode === 'disable') return 'deny';
    if (filter?.deny?.includes(name)) return 'deny';
    if (mode === 'filter') return filter?.allow?.includes(name) ? 'allow' : 'deny';
    return 'allow';
  }

  /** A client `env` request; `unset` leaves it to the backend's default. */
  env(name: string): Verdict {
    return this.listed(this.mode(this.config.env?.mode), name, this.config.env);
  }

  /** A pty request. */
  tty(): Refusal | undefined {
    return this.listed(this.mode(this.config.tty?.mode), '', undefined) === 'deny' ? { code: 'SECURITY_TTY_REJECTED', message: 'A terminal is not allowed for this session.' } : undefined;
  }

  /** What runs for a shell, exec or subsystem request, after forceCommand; or why not. */
  program(
    request: { readonly kind: 'shell' } | { readonly kind: 'exec'; readonly command: string } | { readonly kind: 'subsystem'; readonly name: string },
  ): { readonly refusal: Refusal } | { readonly forced?: { readonly command: string; readonly original: string } } {
    if (this.config.forceCommand !== undefined) {
      const original = request.kind === 'exec' ? request.command : request.kind === 'subsystem' ? request.name : '';
      return { forced: { command: this.config.forceCommand, original } };
    }
    switch (request.kind) {
      case 'shell':
        return this.listed(this.mode(this.config.shell?.mode), '', undefined) === 'deny'
          ? { refusal: { code: 'SECURITY_SHELL_REJECTED', message: 'An interactive shell is not allowed for this session.' } }
          : {};
      case 'exec':
        return this.listed(this.mode(this.config.command?.mode), request.command, this.config.command) === 'deny'
          ? { refusal: { code: 'SECURITY_EXEC_REJECTED', message: 'This command is not allowed for this session.' } }
          : {};
      case 'subsystem':
        return this.listed(this.mode(this.config.subsystem?.mode), request.name, this.config.subsystem) === 'deny'
          ? { refusal: { code: 'SECURITY_SUBSYSTEM_REJECTED', message: `The ${request.name} subsystem is not allowed for this session.` } }
          : {};
    }
  }

  /** A client `signal` request, by name without `SIG`. */
  signal(name: string): Refusal | undefined {
    return this.listed(this.mode(this.config.signal?.mode), name, this.config.signal) === 'deny' ? { code: 'SECURITY_SIGNAL_REJECTED', message: `Signal ${name} is not allowed.` } : undefined;
  }

  /** A forwarding request of one kind; `unset` leaves it to the backend's default. */
  forwarding(kind: ForwardingKind): Verdict {
    return this.listed(this.mode(this.config.forwarding?.[FORWARDING_MODE_KEYS[kind]]), '', undefined);
  }

  /** Session channels open at once on one connection; undefined means no limit. */
  get maxSessions(): number | undefined {
    const limit = this.config.maxSessions;
    return lowest(limit === undefined || limit <= 0 ? undefined : limit, this.ceilings.maxSessions);
  }

  get maxConnectionsPerUser(): number | undefined {
    return lowest(this.config.maxConnectionsPerUser, this.ceilings.maxConnectionsPerUser);
  }

  /** Time limits in milliseconds; absent ones are off. */
  get timeLimits(): { readonly idleTimeoutMs?: number; readonly maxDurationMs?: number; readonly warnBeforeMs: number } {
    const idleTimeoutMs = durationMs(this.config.session?.idleTimeout);
    const maxDurationMs = durationMs(this.config.session?.maxDuration);
    return {
      ...(idleTimeoutMs ? { idleTimeoutMs } : {}),
      ...(maxDurationMs ? { maxDurationMs } : {}),
      warnBeforeMs: durationMs(this.config.session?.warnBefore) ?? 60_000,
    };
  }
}
