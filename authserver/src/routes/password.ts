import type { WebhookApp } from '@portcullis/kit';
import { responses } from '@portcullis/kit';
import { AUTH_ANSWER, AuthResponseSchema, PasswordRequestSchema, UNAVAILABLE_ANSWER, WEBHOOK_ERROR_ANSWERS, type AuthResponse, type PasswordRequest } from '@portcullis/wire';
import type { FastifyBaseLogger } from 'fastify';
import { KerberosUnavailableError, LogCode } from '../errors.ts';
import { mergeGrants } from '../grants.ts';
import { attemptOf, throttled, type LoginThrottle } from '../methods/brute-force/index.ts';
import { KerberosUnavailable, type KerberosPasswordCheck } from '../methods/kerberos/index.ts';
import type { UserDirectory } from '../users-file.ts';

/**
 * POST /password (ContainerSSH auth webhook): a refusal is 200 with success false, never an error status.
 * Success carries the user's metadata, environment and files from the users file (never logged).
 * With `kerberos` configured, the KDC checks every password instead of the users file.
 */
export function passwordRoute(app: WebhookApp, users: UserDirectory, throttle?: LoginThrottle, kerberos?: KerberosPasswordCheck): void {
  const schema = {
    operationId: 'authPassword',
    summary: 'Password authentication',
    body: PasswordRequestSchema,
    ...responses({ 200: { schema: AuthResponseSchema, description: AUTH_ANSWER }, ...WEBHOOK_ERROR_ANSWERS, 503: UNAVAILABLE_ANSWER }),
  };
  app.post('/password', { schema }, async (request): Promise<AuthResponse> => {
    const body = request.body;
    return throttled(throttle, request.log, attemptOf(body), async () => {
      // Verify the raw bytes: the password need not be UTF-8, and a Buffer is never logged by accident.
      const password = Buffer.from(body.passwordBase64, 'base64');
      // The KDC is throttled like the users file: a guesser is blocked here before reaching it.
      if (kerberos) return kerberosLogin(kerberos, users, body, password, request.log);
      const passwordOk = await users.verifyPassword(body.username, password);
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
      return AuthResponseSchema.parse(ok ? { success: true, authenticatedUsername: body.username, ...users.grantsOf(body.username) } : { success: false });
    });
  });
}

/**
 * The KDC decides; the users file may still add metadata, environment and files for the
 * authenticated identity, and the ticket's entries are merged over them (ContainerSSH's merge).
 */
async function kerberosLogin(kerberos: KerberosPasswordCheck, users: UserDirectory, body: PasswordRequest, password: Buffer, log: FastifyBaseLogger): Promise<AuthResponse> {
  const who = { username: body.username, connectionId: body.connectionId, remoteAddress: body.remoteAddress };
  let decision;
  try {
    decision = await kerberos.verify(body.username, password);
  } catch (error) {
    if (!(error instanceof KerberosUnavailable)) throw error;
    log.warn({ code: LogCode.KERBEROS_UNAVAILABLE, ...who, reason: error.message }, 'Kerberos unavailable');
    throw new KerberosUnavailableError();
  }
  if (!decision.accepted) {
    const mismatch = decision.reason === 'username-mismatch';
    log.info(
      {
        code: mismatch ? LogCode.KERBEROS_USERNAME_MISMATCH : LogCode.KERBEROS_REJECTED,
        ...who,
        principal: decision.principal,
        reason: decision.reason,
        ...(decision.detail ? { kdc: decision.detail } : {}),
      },
      mismatch ? 'Kerberos principal may not log in under this username (enforceUsername)' : 'Kerberos password rejected',
    );
    return AuthResponseSchema.parse({ success: false });
  }
  log.info({ code: LogCode.KERBEROS_ACCEPTED, ...who, principal: decision.principal, authenticatedUsername: decision.authenticatedUsername }, 'Kerberos ticket obtained');
  return AuthResponseSchema.parse({
    success: true,
    authenticatedUsername: decision.authenticatedUsername,
    ...mergeGrants(users.grantsOf(decision.authenticatedUsername), decision.maps),
  });
}
