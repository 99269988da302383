import { CallQueue } from '../call-queue.ts';
import { GatewayError } from '../errors.ts';

export interface ApiPoolLimits {
  /** Requests in flight at once; more wait in the queue. */
  readonly maxConcurrent: number;
  /** Requests waiting at once; more are refused at once with BACKEND_API_BUSY. */
  readonly maxQueued: number;
}

/**
 * Bounds the requests one gateway process makes to a backend API (the Docker engine, the
 * Kubernetes API server). Without it every client request becomes a concurrent call: 20,000
 * resizes meant 20,000 sockets into dockerd, and other users' calls failed. Waiting callers
 * are served first come, first served; past the queue they are refused with a line a user
 * understands instead of piling up in memory.
 */
export class ApiPool {
  private readonly queue: CallQueue;

  constructor(
    private readonly name: string,
    private readonly limits: ApiPoolLimits,
  ) {
    this.queue = new CallQueue(limits);
  }

  get inFlight(): number {
    return this.queue.inFlight;
  }

  get queued(): number {
    return this.queue.queued;
  }

  /** Runs `task` when a slot is free; the slot is held until its promise settles. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await task();
    } finally {
      release();
    }
  }

  /** Resolves with a release function once a slot is free; rejects at once when the queue is full. */
  acquire(): Promise<() => void> {
    return this.queue.acquire().catch((refusal: unknown) => {
      throw new GatewayError('BACKEND_API_BUSY', 'Request refused: the gateway has too many calls waiting for its backend; try again shortly.', {
        cause: new Error(`${this.name}: ${this.limits.maxConcurrent} requests in flight and ${this.limits.maxQueued} queued`, { cause: refusal }),
      });
    });
  }
}

type DialCallback = (error: unknown, data?: unknown) => void;
interface DialingModem {
  dial(options: unknown, callback: DialCallback): void;
}

/**
 * Puts every HTTP request dockerode makes through `pool`: dockerode sends each one through
 * its modem's `dial`, whose callback fires once the engine answered (for a streaming or
 * hijacked response, once the stream is open), so a slot is an engine request in flight.
 */
export function poolDockerModem(modem: DialingModem, pool: ApiPool): void {
  const dial = modem.dial.bind(modem);
  modem.dial = (options, callback) => {
    pool.acquire().then(
      (release) => {
        try {
          dial(options, (error, data) => {
            release();
            callback(error, data);
          });
        } catch (error) {
          release();
          throw error;
        }
      },
      (refusal: unknown) => callback(refusal),
    );
  };
}

/**
 * The same object, with each method that returns a promise run through `pool` (client-node's
 * generated API classes: one method, one API request).
 */
export function poolPromiseMethods<T extends object>(target: T, pool: ApiPool): T {
  return new Proxy(target, {
    get(object, property) {
      const value: unknown = Reflect.get(object, property, object);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => pool.run(() => Promise.resolve((value as (...a: unknown[]) => unknown).apply(object, args)));
    },
  });
}
