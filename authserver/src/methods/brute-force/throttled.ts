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
 * Runs a login check under the throttle: a blocked address or username is refused without
 * checking anything (and the attempt still counts), a refusal counts as a failure, a success
 * clears the username's count. Public keys and certificates pass `countFailure: false` (they
 * cannot be guessed, and clients offer several) and `clearOnSuccess: false` (the gateway asks
 * about a key before the client proves it holds it, and public keys are public: a "yes" must
 * not reset a password guesser's count). They are still refused while blocked.
 */
export async function throttled(
  throttle: LoginThrottle | undefined,
  log: FastifyBaseLogger,
  attempt: Attempt,
  check: () => Promise<AuthResponse>,
  options: { countFailure: boolean; clearOnSuccess: boolean } = { countFailure: true, clearOnSuccess: true },
): Promise<AuthResponse> {
  if (!throttle) return check();
  const block = await throttle.blocked(attempt.remoteAddress, attempt.username);
  if (block) {
    log.info({ code: LogCode.LOGIN_THROTTLED, scope: block.scope, retryAfterSeconds: block.retryAfterSeconds, ...attempt }, 'login refused: too many failures');
    if (options.countFailure) await count(throttle, log, attempt);
    return refusal(block);
  }
  const answer = await check();
  if (answer.success) {
    if (options.clearOnSuccess) await throttle.succeeded(attempt.username);
  }
  else if (options.countFailure) await count(throttle, log, attempt);
  return answer;
}

async function count(throttle: LoginThrottle, log: FastifyBaseLogger, attempt: Attempt): Promise<void> {
  const started = await throttle.failed(attempt.remoteAddress, attempt.username);
  if (started) {
    log.warn({ code: LogCode.LOGIN_BLOCK_STARTED, scope: started.scope, seconds: started.retryAfterSeconds, ...attempt }, 'too many failed logins');
  }
}

/** A refusal like any other, with a Retry-After-style hint in the metadata (the gateway ignores maps of a refusal). */
export function refusal(block: Block): AuthResponse {
  return { success: false, metadata: { retryAfterSeconds: { value: String(block.retryAfterSeconds), sensitive: false } } };
}
