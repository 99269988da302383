/** Result of waiting a bounded while for something that runs in the background. */
export type Waited<T> = { readonly done: true; readonly value: T } | { readonly done: true; readonly error: unknown } | { readonly done: false };

/**
 * Something slow (polling a token endpoint while a person logs in) that each
 * keyboard-interactive call waits on for at most a few seconds, below the gateway's webhook
 * timeout, answering an empty step in between (wire/README.md). The work itself runs once.
 */
export class BackgroundWait<T> {
  private outcome: Waited<T> = { done: false };
  private readonly settled: Promise<void>;

  constructor(work: Promise<T>) {
    this.settled = work.then(
      (value) => void (this.outcome = { done: true, value }),
      (error: unknown) => void (this.outcome = { done: true, error }),
    );
  }

  /** Resolves when the work settled, or after `ms` with `{ done: false }`. */
  async waitUpTo(ms: number): Promise<Waited<T>> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.settled, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
    return this.outcome;
  }
}
