import type { FastifyBaseLogger } from 'fastify';
import type { AuthResponse } from '@portcullis/wire';
import { LogCode } from '../../errors.ts';
import type { Block, LoginThrottle } from './login-throttle.ts';

/** Who tried, and nothing else: these fields go into log lines, so never a request body. */
export interface Attempt {
  readonly remoteAddress: string;
  readonly username: string;
  readonly connectionId: string;
}

export function attemptOf(body: Attempt): Attempt {
  return { remoteAddress: body.remoteAddress, username: body.username, connectionId: body.connectionId };
}

/**
 * Runs a password check under the throttle: a blocked address or (address, user) pair is refused
 * without checking anything and without counting (so the block ends when it said it would), a
 * refusal counts as a failure, a success clears the pair's count. Only guessable secrets go
 * through here; public keys and certificates never do.
 */
export async function throttled(throttle: LoginThrottle | undefined, log: FastifyBaseLogger, attempt: Attempt, check: () => Promise<AuthResponse>): Promise<AuthResponse> {
  if (!throttle) return check();
  const block = await refusedBy(throttle, log, attempt);
  if (block) return refusal(block);
  const answer = await check();
  await settled(throttle, log, attempt, answer.success);
  return answer;
}

/** The block that refuses this attempt, logged with its `retryAfterSeconds` for the operator. */
export async function refusedBy(throttle: LoginThrottle, log: FastifyBaseLogger, attempt: Attempt): Promise<Block | undefined> {
  const block = await throttle.blocked(attempt.remoteAddress, attempt.username);
  if (block) log.info({ code: LogCode.LOGIN_THROTTLED, scope: block.scope, retryAfterSeconds: block.retryAfterSeconds, ...attempt }, 'login refused: too many failures');
  return block;
}

/** Records the outcome of a checked attempt: a success clears the pair's count, a failure counts. */
export async function settled(throttle: LoginThrottle, log: FastifyBaseLogger, attempt: Attempt, success: boolean): Promise<void> {
  if (success) return throttle.succeeded(attempt.remoteAddress, attempt.username);
  const started = await throttle.failed(attempt.remoteAddress, attempt.username);
  if (started) {
    log.warn({ code: LogCode.LOGIN_BLOCK_STARTED, scope: started.scope, retryAfterSeconds: started.retryAfterSeconds, ...attempt }, 'too many failed logins');
  }
}

/** A refusal like any other, with a Retry-After-style hint in the metadata (the gateway ignores maps of a refusal). */
export function refusal(block: Block): AuthResponse {
  return { success: false, metadata: { retryAfterSeconds: { value: String(block.retryAfterSeconds), sensitive: false } } };
}
