import {
  AuthResponseSchema,
  type AuthResponse,
  type ConnectionMaps,
  type PasswordRequest,
  type PublicKeyRequest,
} from '@portcullis/wire';
import { GatewayError } from '../errors.ts';
import { WebhookFailure, type WebhookClient } from '../webhook/index.ts';
import type { ConnectionIdentity } from '../session/connection-identity.ts';

/** What the auth webhook decided. Unavailable is not denied: that case throws a GatewayError. */
export type AuthDecision =
  | { accepted: true; authenticatedUsername: string; maps: ConnectionMaps }
  | { accepted: false };

/**
 * The gateway's side of ContainerSSH's auth webhook (`/password`, `/pubkey`). It decides
 * nothing itself: it asks, validates the answer, and fails closed when no valid answer comes.
 */
export class AuthWebhook {
  constructor(private readonly client: WebhookClient) {}

  async password(identity: ConnectionIdentity, username: string, password: Buffer): Promise<AuthDecision> {
    const body: PasswordRequest = {
      ...requestFields(identity, username),
      passwordBase64: password.toString('base64'),
    };
    return this.ask('password', body, username);
  }

  async publicKey(identity: ConnectionIdentity, username: string, authorizedKey: string): Promise<AuthDecision> {
    const body: PublicKeyRequest = { ...requestFields(identity, username), publicKey: authorizedKey };
    return this.ask('pubkey', body, username);
  }

  private async ask(path: 'password' | 'pubkey', body: object, username: string): Promise<AuthDecision> {
    let answer: AuthResponse;
    try {
      answer = await this.client.post(path, body, AuthResponseSchema);
    } catch (error) {
      const why = error instanceof WebhookFailure ? error.describe() : 'failed';
      throw new GatewayError('AUTH_BACKEND_ERROR', `Login refused: the authentication service ${why}.`, { cause: error });
    }
    if (!answer.success) return { accepted: false };
    return {
      accepted: true,
      // ContainerSSH takes authenticatedUsername only when it is non-empty.
      authenticatedUsername: answer.authenticatedUsername || username,
      maps: { metadata: answer.metadata, environment: answer.environment, files: answer.files },
    };
  }
}

function requestFields(identity: ConnectionIdentity, username: string) {
  return {
    username,
    remoteAddress: identity.remoteAddress,
    connectionId: identity.connectionId,
    ...(identity.clientVersion ? { clientVersion: identity.clientVersion } : {}),
  };
}
