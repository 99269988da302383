import { isIP } from 'node:net';
import { RateLimiterMemory } from 'rate-limiter-flexible';

/** Limits on failed logins across connections; durations in seconds. */
export interface ThrottleSettings {
  /** Failed logins from one source address within `windowSeconds` that block it (the last one starts the block). */
  readonly addressFailures: number;
  /** Failed logins for one username within `windowSeconds` that start its backoff. */
  readonly usernameFailures: number;
  readonly windowSeconds: number;
  /** How long a blocked address stays blocked. */
  readonly addressBlockSeconds: number;
  /** First username backoff; each further failure doubles it, up to the maximum. */
  readonly usernameBackoffSeconds: number;
  readonly usernameBackoffMaxSeconds: number;
}

export const DEFAULT_THROTTLE: ThrottleSettings = {
  addressFailures: 50,
  usernameFailures: 10,
  windowSeconds: 15 * 60,
  addressBlockSeconds: 15 * 60,
  usernameBackoffSeconds: 1,
  usernameBackoffMaxSeconds: 15 * 60,
};

export interface Block {
  readonly scope: 'address' | 'username';
  readonly retryAfterSeconds: number;
}

/**
 * Brute-force protection across connections (one connection is bounded by the gateway's
 * maxAuthTries). A source address that fails too often is blocked outright, whatever it tries
 * next, even the right password. A username that fails too often from anywhere gets an
 * exponential backoff instead of a long lockout, so an attacker cannot lock a user out for long.
 * Counters live in memory (rate-limiter-flexible); each replica counts on its own.
 */
export class LoginThrottle {
  private readonly addresses: RateLimiterMemory;
  private readonly usernames: RateLimiterMemory;
  private readonly usernameBlocks: RateLimiterMemory;

  constructor(private readonly settings: ThrottleSettings = DEFAULT_THROTTLE) {
    this.addresses = new RateLimiterMemory({
      keyPrefix: 'address',
      // rate-limiter-flexible blocks when a key goes past `points`: the Nth failure blocks.
      points: settings.addressFailures - 1,
      duration: settings.windowSeconds,
      blockDuration: settings.addressBlockSeconds,
    });
    this.usernames = new RateLimiterMemory({ keyPrefix: 'username', points: settings.usernameFailures, duration: settings.windowSeconds });
    this.usernameBlocks = new RateLimiterMemory({ keyPrefix: 'username-block', points: 1, duration: settings.usernameBackoffMaxSeconds });
  }

  /** Whether a login for `username` from `remoteAddress` (`ip:port`) is refused without checking it. */
  async blocked(remoteAddress: string, username: string): Promise<Block | undefined> {
    const address = await this.addresses.get(throttleKeyOf(remoteAddress));
    if (address && address.consumedPoints >= this.settings.addressFailures && address.msBeforeNext > 0) {
      return { scope: 'address', retryAfterSeconds: Math.ceil(address.msBeforeNext / 1000) };
    }
    const user = await this.usernameBlocks.get(username);
    if (user && user.msBeforeNext > 0) return { scope: 'username', retryAfterSeconds: Math.ceil(user.msBeforeNext / 1000) };
    return undefined;
  }

  /**
   * Counts a failed (or throttled) login. Returns the block it started, if any: the address
   * block once the address passes its limit; for the username, each failure past its limit
   * sets a backoff twice as long as the one before.
   */
  async failed(remoteAddress: string, username: string): Promise<Block | undefined> {
    let started: Block | undefined;
    const address = await this.addresses.consume(throttleKeyOf(remoteAddress)).catch((res: unknown) => res as { consumedPoints: number; msBeforeNext: number });
    if (address.consumedPoints === this.settings.addressFailures) {
      started = { scope: 'address', retryAfterSeconds: this.settings.addressBlockSeconds };
    }
    const user = await this.usernames.penalty(username);
    const over = user.consumedPoints - this.settings.usernameFailures + 1;
    if (over > 0) {
      const seconds = Math.min(this.settings.usernameBackoffSeconds * 2 ** Math.min(over - 1, 30), this.settings.usernameBackoffMaxSeconds);
      await this.usernameBlocks.block(username, seconds);
      started ??= { scope: 'username', retryAfterSeconds: seconds };
    }
    return started;
  }

  /** A successful login clears the username's count (never the address's: an attacker's own account must not reset it). */
  async succeeded(username: string): Promise<void> {
    await this.usernames.delete(username);
    await this.usernameBlocks.delete(username);
  }
}

/** The address without its port; IPv6 in brackets loses them. */
export function addressOf(remoteAddress: string): string {
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(remoteAddress);
  if (bracketed) return bracketed[1]!;
  const at = remoteAddress.lastIndexOf(':');
  return at > 0 && remoteAddress.indexOf(':') === at ? remoteAddress.slice(0, at) : remoteAddress;
}

/**
 * What failures are counted under: the IPv4 address, or the IPv6 /64 (one host usually holds a
 * whole /64, so counting single IPv6 addresses would give an attacker 2^64 fresh tries).
 */
export function throttleKeyOf(remoteAddress: string): string {
  const address = addressOf(remoteAddress);
  if (isIP(address) !== 6 || address.includes('.')) return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = address.includes('::') && tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((group) => Number.parseInt(group, 16).toString(16)).join(':')}::/64`;
}
