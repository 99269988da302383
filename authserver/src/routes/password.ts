import type { FastifyInstance } from 'fastify';
import { AuthResponseSchema, PasswordRequestSchema, type AuthResponse } from '@portcullis/wire';
import { LogCode } from '../errors.ts';
import { attemptOf, throttled, type LoginThrottle } from '../methods/brute-force/index.ts';
import type { UserDirectory } from '../users-file.ts';
import { parseBody } from '../validate.ts';

/**
 * POST /password (ContainerSSH auth webhook): a refusal is 200 with success false, never an error status.
 * Success carries the user's metadata, environment and files from the users file (never logged).
 */
export function passwordRoute(app: FastifyInstance, users: UserDirectory, throttle?: LoginThrottle): void {
  app.post('/password', async (request): Promise<AuthResponse> => {
    const body = parseBody(PasswordRequestSchema, request.body);
    return throttled(throttle, request.log, attemptOf(body), async () => {
      // Verify the raw bytes: the password need not be UTF-8, and a Buffer is never logged by accident.
      const passwordOk = await users.verifyPassword(body.username, Buffer.from(body.passwordBase64, 'base64'));
      // A user with a one-time code logs in only over keyboard-interactive: the password alone is not enough.
      const secondFactorMissing = users.hasTotp(body.username);
      const ok = passwordOk && !secondFactorMissing;
      request.log.info(
        {
          code: ok ? LogCode.PASSWORD_ACCEPTED : LogCode.PASSWORD_REJECTED,
          ...(ok ? {} : { reason: passwordOk ? 'second-factor-required' : 'password' }),
          username: body.username,
          connectionId: body.connectionId,
          remoteAddress: body.remoteAddress,
        },
        ok ? 'password accepted' : 'password rejected',
      );
      return AuthResponseSchema.parse(
        ok
          ? { success: true, authenticatedUsername: body.username, ...users.grantsOf(body.username) }
          : { success: false },
      );
    });
  });
}
