/** Bounds of the calls from this gateway process to one server (a webhook, a backend API). */
export interface CallQueueLimits {
  /** Calls in flight at once; more wait in the queue. */
  readonly maxConcurrent: number;
  /** Calls waiting at once; more are refused at once. */
  readonly maxQueued: number;
  /** Longest wait for a slot; a call still waiting then is refused. Without it a call waits its turn. */
  readonly maxWaitMs?: number | undefined;
}

/** Why a call got no slot: the queue was full, or the call waited `maxWaitMs`. */
export class CallQueueRefusal extends Error {
  constructor(
    readonly reason: 'full' | 'wait',
    detail: string,
  ) {
    super(detail);
    this.name = 'CallQueueRefusal';
  }
}

interface Waiter {
  readonly grant: (release: () => void) => void;
  readonly timer: NodeJS.Timeout | undefined;
  settled: boolean;
}

/**
 * First come, first served slots for calls to one server (webhooks, and the backend APIs
 * through ApiPool). A login burst sent all at
 * once makes the server answer the last of them only after every other one, so each call's
 * own timeout ran out while it sat in the server's backlog: here the calls wait for a slot in
 * the gateway instead, and the webhook timeout starts only when the call is sent. The wait has
 * its own bound and so does the queue, so a flood costs a bounded amount of memory and every
 * caller learns why it was refused.
 */
export class CallQueue {
  private active = 0;
  /** Oldest first; a waiter that timed out stays until it reaches the head, marked settled. */
  private readonly waiters: Waiter[] = [];
  private waiting = 0;

  constructor(private readonly limits: CallQueueLimits) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting;
  }

  /**
   * Resolves with a release function once a slot is free (call it exactly when the call
   * ended; later calls are no-ops). Rejects with a CallQueueRefusal at once when the queue is
   * full, or when no slot freed within `maxWaitMs`; a refused caller holds nothing.
   */
  acquire(): Promise<() => void> {
    if (this.active < this.limits.maxConcurrent) return Promise.resolve(this.take());
    if (this.waiting >= this.limits.maxQueued) {
      return Promise.reject(new CallQueueRefusal('full', `${this.limits.maxConcurrent} calls in flight and ${this.limits.maxQueued} waiting`));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: resolve,
        settled: false,
        timer:
          this.limits.maxWaitMs === undefined
            ? undefined
            : setTimeout(() => {
                waiter.settled = true;
                this.waiting -= 1;
                reject(new CallQueueRefusal('wait', `no free slot of ${this.limits.maxConcurrent} within ${this.limits.maxWaitMs} ms`));
              }, this.limits.maxWaitMs),
      };
      this.waiters.push(waiter);
      this.waiting += 1;
    });
  }

  private take(): () => void {
    this.active += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active -= 1;
      this.next();
    };
  }

  private next(): void {
    for (let waiter = this.waiters.shift(); waiter; waiter = this.waiters.shift()) {
      if (waiter.settled) continue;
      waiter.settled = true;
      clearTimeout(waiter.timer);
      this.waiting -= 1;
      waiter.grant(this.take());
      return;
    }
  }
}
