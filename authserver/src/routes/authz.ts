import { responses, type WebhookApp } from '@portcullis/kit';
import { AUTH_ANSWER, AuthorizationRequestSchema, AuthResponseSchema, WEBHOOK_ERROR_ANSWERS, type AuthResponse } from '@portcullis/wire';
import { LogCode } from '../errors.ts';
import type { UserDirectory } from '../users-file.ts';

/**
 * POST /authz: may the authenticated identity log in as the SSH username?
 *
 * The login step names the identity it verified in the metadata entry `identity` (`KIND:ID`:
 * `certificate:<key id>`, `oidc:<issuer>#<subject>`, `kerberos:<principal>`, ...). When the users
 * file's `identities` lists that identity, it may log in exactly as the usernames listed there.
 * Otherwise an identity may log in only as itself (`authenticatedUsername === username`).
 *
 * The answer's authenticatedUsername is the SSH username the session runs as, echoed because
 * ContainerSSH clears it before merging the response. It adds no maps: the login answer
 * already carried the user's metadata, and ContainerSSH merges additively.
 */
export function authzRoute(app: WebhookApp, users: UserDirectory): void {
  const schema = {
    operationId: 'authz',
    summary: 'Authorization',
    body: AuthorizationRequestSchema,
    ...responses({ 200: { schema: AuthResponseSchema, description: AUTH_ANSWER }, ...WEBHOOK_ERROR_ANSWERS }),
  };
  app.post('/authz', { schema }, async (request): Promise<AuthResponse> => {
    const body = request.body;
    const identity = body.metadata?.identity?.value;
    const allowed = identity !== undefined ? users.allowedUsernames(identity) : undefined;
    const ok = allowed !== undefined ? allowed.includes(body.username) : body.authenticatedUsername === body.username;
    request.log.info(
      {
        code: ok ? LogCode.AUTHZ_ACCEPTED : LogCode.AUTHZ_REJECTED,
        ...(ok ? {} : { reason: allowed !== undefined ? 'identity-not-allowed' : 'username-mismatch' }),
        username: body.username,
        authenticatedUsername: body.authenticatedUsername,
        ...(identity !== undefined ? { identity } : {}),
        connectionId: body.connectionId,
      },
      ok ? 'authorization granted' : 'authorization refused',
    );
    return AuthResponseSchema.parse(ok ? { success: true, authenticatedUsername: body.username } : { success: false });
  });
}
