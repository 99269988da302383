/** Signals a client may send per session in a burst, and how fast that allowance comes back. */
const SIGNAL_BURST = 10;
const SIGNALS_PER_SECOND = 2;
/** Distinct signal names waiting while one is being delivered. */
const MAX_WAITING = 4;

export type SignalVerdict = 'queued' | 'rate-limited';

/**
 * Signal delivery for one session: one delivery at a time (where a delivery starts a helper
 * process in the container, one helper at the most), a waiting signal of the same name merged
 * with the one already waiting (as the kernel merges pending signals), and a token bucket on
 * what clients ask for. The gateway's own signals (time limits) skip the bucket, never the queue.
 */
export class SignalGate {
  private readonly waiting: Array<{ name: string; done: Array<(ok: boolean) => void> }> = [];
  private delivering = false;
  private tokens = SIGNAL_BURST;
  private refilledAt = performance.now();

  constructor(private readonly deliver: (name: string) => Promise<boolean>) {}

  /** A client's `signal` request: queued, or refused when the client sends too many. */
  fromClient(name: string): SignalVerdict {
    this.refill();
    const merged = this.waiting.some((entry) => entry.name === name);
    if (!merged && (this.tokens < 1 || this.waiting.length >= MAX_WAITING)) return 'rate-limited';
    if (!merged) this.tokens -= 1;
    void this.enqueue(name);
    return 'queued';
  }

  /** The gateway's own signal; resolves whether it was delivered. */
  fromGateway(name: string): Promise<boolean> {
    return this.enqueue(name);
  }

  private enqueue(name: string): Promise<boolean> {
    return new Promise((resolve) => {
      const entry = this.waiting.find((candidate) => candidate.name === name);
      if (entry) entry.done.push(resolve);
      else this.waiting.push({ name, done: [resolve] });
      if (!this.delivering) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.delivering = true;
    try {
      for (let next = this.waiting.shift(); next; next = this.waiting.shift()) {
        const ok = await this.deliver(next.name).catch(() => false);
        for (const done of next.done) done(ok);
      }
    } finally {
      this.delivering = false;
    }
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(SIGNAL_BURST, this.tokens + ((now - this.refilledAt) / 1000) * SIGNALS_PER_SECOND);
    this.refilledAt = now;
  }
}
