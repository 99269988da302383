/** A terminal size, in character cells. */
export interface TerminalSize {
  readonly cols: number;
  readonly rows: number;
}

/**
 * Resizes for one channel, coalesced: at most one backend call in flight, and while it runs
 * only the latest requested size is kept, so sizes arrive in order and a flood of
 * `window-change` requests costs the backend a handful of calls, not one each.
 */
export class ResizeCoalescer {
  private latest: TerminalSize | undefined;
  private running = false;
  private calls = 0;

  constructor(private readonly apply: (size: TerminalSize) => Promise<void>) {}

  /** Backend calls made so far (for tests and logs). */
  get backendCalls(): number {
    return this.calls;
  }

  request(size: TerminalSize): void {
    this.latest = size;
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.latest) {
        const next = this.latest;
        this.latest = undefined;
        this.calls += 1;
        // A failed resize is the backend's to log; the next size still goes out.
        await this.apply(next).catch(() => undefined);
      }
    } finally {
      this.running = false;
    }
  }
}
