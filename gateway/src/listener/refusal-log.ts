import type { Logger } from '../observability/index.ts';

/**
 * One log line per code and interval for refusals a flood repeats thousands of times a
 * second; the line says how many were refused since the last one. Logging each would let
 * the attacker fill the operator's disk instead.
 */
export class RefusalLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
    /** Monotonic, so a wall-clock step back cannot silence refusals for as long as it stepped. */
    private readonly now: () => number = () => performance.now(),
  ) {}

  warn(code: string, fields: Record<string, unknown>, message: string): void {
    const now = this.now();
    const entry = this.last.get(code);
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed += 1;
      return;
    }
    this.log.warn({ code, ...fields, ...(entry?.suppressed ? { alsoRefused: entry.suppressed } : {}) }, message);
    this.last.set(code, { at: now, suppressed: 0 });
  }
}
