import { isIP } from 'node:net';
import { RateLimiterMemory } from 'rate-limiter-flexible';

/** Limits on failed password logins across connections; durations in seconds. */
export interface ThrottleSettings {
  /** Failed logins from one source address within `windowSeconds` that block it (the last one starts the block). */
  readonly addressFailures: number;
  /** Failed logins for one username from one source address within `windowSeconds` that start a backoff for that pair. */
  readonly addressUserFailures: number;
  readonly windowSeconds: number;
  /** How long a blocked address stays blocked. */
  readonly addressBlockSeconds: number;
  /** First backoff of an (address, user) pair; each further failure after it doubles it, up to the maximum. */
  readonly addressUserBackoffSeconds: number;
  readonly addressUserBackoffMaxSeconds: number;
}

export const DEFAULT_THROTTLE: ThrottleSettings = {
  addressFailures: 50,
  addressUserFailures: 10,
  windowSeconds: 15 * 60,
  addressBlockSeconds: 15 * 60,
  addressUserBackoffSeconds: 1,
  addressUserBackoffMaxSeconds: 15 * 60,
};

export interface Block {
  readonly scope: 'address' | 'address-user';
  readonly retryAfterSeconds: number;
}

/**
 * Brute-force protection for guessable secrets (passwords, keyboard-interactive answers) across
 * connections; one connection is bounded by the gateway's maxAuthTries. Failures are counted per
 * source address and per (address, username), never per username alone: a counter that any
 * address can fill would let an attacker lock a user out from anywhere. A block is never renewed
 * by attempts made while it lasts, so it always ends after the `retryAfterSeconds` it announced.
 * Public keys and certificates are not throttled here: they cannot be guessed, so wrong passwords
 * never stand between a user and the right key. Counters live in memory (rate-limiter-flexible);
 * each replica counts on its own.
 */
export class LoginThrottle {
  private readonly addresses: RateLimiterMemory;
  private readonly pairs: RateLimiterMemory;
  private readonly pairBlocks: RateLimiterMemory;

  constructor(private readonly settings: ThrottleSettings = DEFAULT_THROTTLE) {
    this.addresses = new RateLimiterMemory({
      keyPrefix: 'address',
      // rate-limiter-flexible blocks when a key goes past `points`: the Nth failure blocks.
      points: settings.addressFailures - 1,
      duration: settings.windowSeconds,
      blockDuration: settings.addressBlockSeconds,
    });
    this.pairs = new RateLimiterMemory({ keyPrefix: 'pair', points: settings.addressUserFailures, duration: settings.windowSeconds });
    this.pairBlocks = new RateLimiterMemory({ keyPrefix: 'pair-block', points: 1, duration: settings.addressUserBackoffMaxSeconds });
  }

  /** Whether a password login for `username` from `remoteAddress` (`ip:port`) is refused without checking it. */
  async blocked(remoteAddress: string, username: string): Promise<Block | undefined> {
    const address = await this.addresses.get(throttleKeyOf(remoteAddress));
    if (address && address.consumedPoints >= this.settings.addressFailures && address.msBeforeNext > 0) {
      return { scope: 'address', retryAfterSeconds: Math.ceil(address.msBeforeNext / 1000) };
    }
    const pair = await this.pairBlocks.get(pairKeyOf(remoteAddress, username));
    if (pair && pair.msBeforeNext > 0) return { scope: 'address-user', retryAfterSeconds: Math.ceil(pair.msBeforeNext / 1000) };
    return undefined;
  }

  /**
   * Counts a failed password login that was checked (never one refused while blocked: that would
   * renew the block). Returns the block it started, if any: the address block once the address
   * reaches its limit; for the pair, each failure past its limit sets a backoff twice as long as
   * the one before.
   */
  async failed(remoteAddress: string, username: string): Promise<Block | undefined> {
    let started: Block | undefined;
    const address = await this.addresses.consume(throttleKeyOf(remoteAddress)).catch((res: unknown) => res as { consumedPoints: number; msBeforeNext: number });
    if (address.consumedPoints === this.settings.addressFailures) {
      started = { scope: 'address', retryAfterSeconds: this.settings.addressBlockSeconds };
    }
    const key = pairKeyOf(remoteAddress, username);
    const pair = await this.pairs.penalty(key);
    const over = pair.consumedPoints - this.settings.addressUserFailures + 1;
    if (over > 0) {
      const seconds = Math.min(this.settings.addressUserBackoffSeconds * 2 ** Math.min(over - 1, 30), this.settings.addressUserBackoffMaxSeconds);
      await this.pairBlocks.block(key, seconds);
      started ??= { scope: 'address-user', retryAfterSeconds: seconds };
    }
    return started;
  }

  /** A successful password login clears its (address, user) count (never the address's: an attacker's own account must not reset it). */
  async succeeded(remoteAddress: string, username: string): Promise<void> {
    const key = pairKeyOf(remoteAddress, username);
    await this.pairs.delete(key);
    await this.pairBlocks.delete(key);
  }
}

/** The pair key; NUL cannot occur in an address, so no two pairs share a key. */
function pairKeyOf(remoteAddress: string, username: string): string {
  return `${throttleKeyOf(remoteAddress)}\u0000${username}`;
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
  return `${groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}
