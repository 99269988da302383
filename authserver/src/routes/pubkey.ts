import type { FastifyInstance } from 'fastify';
import { AuthResponseSchema, PublicKeyRequestSchema, type AuthResponse } from '@portcullis/wire';
import { LogCode } from '../errors.ts';
import type { UserDirectory } from '../users-file.ts';
import { parseBody } from '../validate.ts';

/** POST /pubkey: the offered `type base64` key must be one of the user's authorized keys. */
export function pubkeyRoute(app: FastifyInstance, users: UserDirectory): void {
  app.post('/pubkey', async (request): Promise<AuthResponse> => {
    const body = parseBody(PublicKeyRequestSchema, request.body);
    const ok = users.hasAuthorizedKey(body.username, body.publicKey);
    request.log.info(
      {
        code: ok ? LogCode.PUBKEY_ACCEPTED : LogCode.PUBKEY_REJECTED,
        username: body.username,
        connectionId: body.connectionId,
        remoteAddress: body.remoteAddress,
        keyType: body.publicKey.split(' ')[0],
      },
      ok ? 'public key accepted' : 'public key rejected',
    );
    return AuthResponseSchema.parse(
      ok
        ? { success: true, authenticatedUsername: body.username, ...users.grantsOf(body.username) }
        : { success: false },
    );
  });
}
