/**
 * Penalties per source block (OpenSSH PerSourcePenalties): a source that fails to log in,
 * leaves without trying, or holds a connection until the login grace time expires earns
 * penalty time. Below `min` its next connections are slowed; from `min` on they are refused
 * until the penalty runs out. Penalties add up to at most `max`. The table is bounded: when
 * full, the entry updated longest ago makes room (permissive, as OpenSSH's default overflow).
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

export type PenaltyVerdict = { readonly refused: true; readonly retryAfterMs: number } | { readonly refused: false; readonly delayMs: number };

export class SourcePenalties {
  /** block → time (ms, by `now`) the penalty runs out; Map order is last-update order. */
  private readonly until = new Map<string, number>();

  constructor(
    private readonly settings: PenaltySettings,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.until.size;
  }

  /** Adds the event's penalty; returns the penalty now outstanding (ms). */
  penalize(block: string, event: PenaltyEvent): number {
    const duration = event === 'authfail' ? this.settings.authfail : event === 'noauth' ? this.settings.noauth : this.settings.graceExceeded;
    if (duration <= 0) return this.remaining(block);
    const now = this.now();
    const current = Math.max(now, this.until.get(block) ?? 0);
    const next = Math.min(current + duration, now + this.settings.max);
    this.until.delete(block);
    if (this.until.size >= this.settings.maxSources) this.makeRoom(now);
    this.until.set(block, next);
    return next - now;
  }

  /** Whether a new connection from `block` is refused, or how long to hold it first. */
  check(block: string): PenaltyVerdict {
    const remaining = this.remaining(block);
    if (remaining >= this.settings.min) return { refused: true, retryAfterMs: remaining };
    return { refused: false, delayMs: Math.min(remaining, this.settings.maxDelay) };
  }

  private remaining(block: string): number {
    const until = this.until.get(block);
    if (until === undefined) return 0;
    const left = until - this.now();
    if (left <= 0) this.until.delete(block);
    return Math.max(0, left);
  }

  private makeRoom(now: number): void {
    for (const [block, until] of this.until) if (until <= now) this.until.delete(block);
    while (this.until.size >= this.settings.maxSources) {
      const oldest = this.until.keys().next().value;
      if (oldest === undefined) break;
      this.until.delete(oldest);
    }
  }
}
