/**
 * Penalties per source block (OpenSSH PerSourcePenalties): a source that fails to log in,
 * leaves without trying, or holds a connection until the login grace time expires earns
 * penalty time. Below `min` its next connections are slowed. From `min` on, a source that
 * left without trying or held its connections is refused until the penalty runs out; a
 * source that failed logins is refused passwords (and keyboard-interactive) only, so that
 * wrong passwords never keep a right key or certificate out, whoever shares the address.
 * Each kind adds up to at most `max`. The table is bounded: when full, the entry updated
 * longest ago makes room (permissive, as OpenSSH's default overflow).
 */
export type PenaltyEvent = 'authfail' | 'noauth' | 'grace-exceeded';

export interface PenaltySettings {
  readonly authfail: number;
  readonly noauth: number;
  readonly graceExceeded: number;
  /** Penalty (ms) from which a source is refused rather than slowed. */
  readonly min: number;
  /** Longest penalty (ms) a source can accumulate. */
  readonly max: number;
  /** Longest delay (ms) before a penalised source's connection is served. */
  readonly maxDelay: number;
  /** Source blocks remembered at once. */
  readonly maxSources: number;
}

/** Refused, or served after `delayMs`; `passwordsRefusedMs` > 0: its password attempts are refused for that long. */
export type PenaltyVerdict = { readonly refused: true; readonly retryAfterMs: number } | { readonly refused: false; readonly delayMs: number; readonly passwordsRefusedMs: number };

interface PenaltyEnd {
  /** When (ms, by `now`) the penalty for leaving or stalling runs out: it refuses connections. */
  connections: number;
  /** When the penalty for failed logins runs out: it refuses passwords. */
  passwords: number;
}

export class SourcePenalties {
  /** block → when its penalties run out; Map order is last-update order. */
  private readonly until = new Map<string, PenaltyEnd>();

  constructor(
    private readonly settings: PenaltySettings,
    /** Monotonic: a wall-clock step (NTP, a resumed VM) must neither lift a penalty nor stretch it past `max`. */
    private readonly now: () => number = () => performance.now(),
  ) {}

  get size(): number {
    return this.until.size;
  }

  /** Adds the event's penalty; returns that kind's penalty now outstanding (ms). */
  penalize(block: string, event: PenaltyEvent): number {
    const duration = event === 'authfail' ? this.settings.authfail : event === 'noauth' ? this.settings.noauth : this.settings.graceExceeded;
    const kind: keyof PenaltyEnd = event === 'authfail' ? 'passwords' : 'connections';
    const now = this.now();
    if (duration <= 0) return Math.max(0, (this.until.get(block)?.[kind] ?? now) - now);
    const end = this.until.get(block) ?? { connections: now, passwords: now };
    end[kind] = Math.min(Math.max(now, end[kind]) + duration, now + this.settings.max);
    this.until.delete(block);
    if (this.until.size >= this.settings.maxSources) this.makeRoom(now);
    this.until.set(block, end);
    return end[kind] - now;
  }

  /** Whether a new connection from `block` is refused, or how long to hold it first and whether its passwords are. */
  check(block: string): PenaltyVerdict {
    const { connections, passwords } = this.remaining(block);
    if (connections >= this.settings.min) return { refused: true, retryAfterMs: connections };
    return {
      refused: false,
      delayMs: Math.min(Math.max(connections, passwords), this.settings.maxDelay),
      passwordsRefusedMs: passwords >= this.settings.min ? passwords : 0,
    };
  }

  private remaining(block: string): PenaltyEnd {
    const end = this.until.get(block);
    if (end === undefined) return { connections: 0, passwords: 0 };
    const now = this.now();
    if (end.connections <= now && end.passwords <= now) this.until.delete(block);
    return { connections: Math.max(0, end.connections - now), passwords: Math.max(0, end.passwords - now) };
  }

  private makeRoom(now: number): void {
    for (const [block, end] of this.until) if (end.connections <= now && end.passwords <= now) this.until.delete(block);
    while (this.until.size >= this.settings.maxSources) {
      const oldest = this.until.keys().next().value;
      if (oldest === undefined) break;
      this.until.delete(oldest);
    }
  }
}
