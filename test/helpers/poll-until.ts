import { setTimeout as sleep } from 'node:timers/promises';
import { trackWait } from './leftovers.ts';

export interface PollOptions<T> {
  /** What is awaited, as the timeout message should name it ("no session container left"). */
  readonly what: string;
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  /** When the value read is the awaited one (default: anything but undefined, null and false). */
  readonly until?: (value: T) => boolean;
}

/** Thrown when the awaited value did not come in time; carries the last value read. */
export class PollTimeout<T> extends Error {
  constructor(
    readonly what: string,
    readonly last: T,
    timeoutMs: number,
  ) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${describe(last)}`);
    this.name = 'PollTimeout';
  }
}

/** A value that ends a wait when no `until` is given: anything but undefined, null and false. */
export type Found<T> = Exclude<T, undefined | null | false>;

/**
 * Reads `check` every `intervalMs` until its value is the awaited one and returns that value;
 * after `timeoutMs` throws a PollTimeout naming `what` and the last value seen. An error thrown
 * by `check` ends the wait at once (a program that exited will never log the line).
 */
export async function pollUntil<T>(check: () => T | Promise<T>, options: PollOptions<T> & { readonly until?: undefined }): Promise<Found<T>>;
export async function pollUntil<T>(check: () => T | Promise<T>, options: PollOptions<T>): Promise<T>;
export async function pollUntil<T>(check: () => T | Promise<T>, options: PollOptions<T>): Promise<T> {
  const { what, timeoutMs = 30_000, intervalMs = 100 } = options;
  const until = options.until ?? ((value: T) => value !== undefined && value !== null && value !== false);
  const wait = trackWait(what);
  const end = Date.now() + timeoutMs;
  try {
    for (;;) {
      const value = await check();
      wait.seen(value);
      if (until(value)) return value;
      if (Date.now() >= end) throw new PollTimeout(what, value, timeoutMs);
      await sleep(intervalMs);
    }
  } finally {
    wait.done();
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 500 ? `${value.slice(0, 500)}…` : value);
  try {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 500 ? `${text.slice(0, 500)}…` : text;
  } catch {
    return String(value);
  }
}

/** Like pollUntil, but at the deadline returns the last value read, for a caller that asserts on it. */
export async function pollUntilOrLast<T>(check: () => T | Promise<T>, options: PollOptions<T>): Promise<T> {
  try {
    return await pollUntil(check, options);
  } catch (error) {
    if (error instanceof PollTimeout) return error.last as T;
    throw error;
  }
}
