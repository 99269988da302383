import type { FastifyInstance } from 'fastify';
import { AuthorizationRequestSchema, AuthResponseSchema, type AuthResponse } from '@portcullis/wire';
import { LogCode } from '../errors.ts';
import { parseBody } from '../validate.ts';

/**
 * POST /authz: for now an identity may log in only as itself. The answer echoes
 * authenticatedUsername because ContainerSSH clears it before merging the response. It adds no
 * maps: the login answer already carried the user's metadata, and ContainerSSH merges additively.
 */
export function authzRoute(app: FastifyInstance): void {
  app.post('/authz', async (request): Promise<AuthResponse> => {
    const body = parseBody(AuthorizationRequestSchema, request.body);
    const ok = body.authenticatedUsername === body.username;
    request.log.info(
      {
        code: ok ? LogCode.AUTHZ_ACCEPTED : LogCode.AUTHZ_REJECTED,
        username: body.username,
        authenticatedUsername: body.authenticatedUsername,
        connectionId: body.connectionId,
      },
      ok ? 'authorization granted' : 'authorization refused',
    );
    return AuthResponseSchema.parse(
      ok ? { success: true, authenticatedUsername: body.authenticatedUsername } : { success: false },
    );
  });
}
