/**
 * Unauthenticated connections, in total and per source block (OpenSSH MaxStartups
 * start:rate:full and PerSourceMaxStartups). Between `start` and `full` new connections are
 * dropped at random, `rate` percent at `start` rising to all at `full`, so a flood of idle
 * connections cannot hold every slot: a real client retrying still gets through.
 */
export interface StartupLimits {
  readonly start: number;
  /** Percent dropped at `start`, rising linearly to 100 at `full`. */
  readonly rate: number;
  readonly full: number;
  /** Unauthenticated connections one source block may hold at once. */
  readonly perSource: number;
}

export type StartupRefusal = 'full' | 'early-drop' | 'per-source';
export type Admission = { readonly admitted: true; readonly release: () => void } | { readonly admitted: false; readonly reason: StartupRefusal };

export class StartupGate {
  private total = 0;
  private readonly perBlock = new Map<string, number>();

  constructor(
    private readonly limits: StartupLimits,
    /** Injected so tests can make the early drop certain either way. */
    private readonly random: () => number = Math.random,
  ) {}

  get unauthenticated(): number {
    return this.total;
  }

  /** Takes one slot for `block`, or says why not; `release` gives it back (once). */
  admit(block: string): Admission {
    const held = this.perBlock.get(block) ?? 0;
    if (held >= this.limits.perSource) return { admitted: false, reason: 'per-source' };
    if (this.total >= this.limits.full) return { admitted: false, reason: 'full' };
    if (this.total >= this.limits.start && this.random() * 100 < this.dropPercent()) return { admitted: false, reason: 'early-drop' };
    this.total += 1;
    this.perBlock.set(block, held + 1);
    let released = false;
    return {
      admitted: true,
      release: () => {
        if (released) return;
        released = true;
        this.total -= 1;
        const left = (this.perBlock.get(block) ?? 1) - 1;
        if (left <= 0) this.perBlock.delete(block);
        else this.perBlock.set(block, left);
      },
    };
  }

  private dropPercent(): number {
    const { start, rate, full } = this.limits;
    if (full <= start) return 100;
    return rate + ((100 - rate) * (this.total - start)) / (full - start);
  }
}
