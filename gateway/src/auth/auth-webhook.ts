import {
  AuthResponseSchema,
  type AuthorizationRequest,
  type AuthResponse,
  type ConnectionMaps,
  type PasswordRequest,
  type PublicKeyRequest,
} from '@portcullis/wire';
import { GatewayError, type GatewayCode } from '../errors.ts';
import { secondsSince, type GatewayMetrics } from '../observability/index.ts';
import { WebhookFailure, type WebhookClient } from '../webhook/index.ts';
import type { ConnectionIdentity } from '../session/connection-identity.ts';
import { mapsForWebhook } from '../session/connection-maps.ts';

/** What the auth webhook decided. Unavailable is not denied: that case throws a GatewayError. */
export type AuthDecision =
  | { accepted: true; authenticatedUsername: string; maps: ConnectionMaps }
  | { accepted: false };

export interface AuthWebhookOptions {
  /** Send sensitive entries from the login step on to /authz (default: no). */
  readonly transmitSensitiveMetadata?: boolean;
  readonly metrics?: GatewayMetrics;
}

/**
 * The gateway's side of ContainerSSH's auth webhook (`/password`, `/pubkey`, `/authz`). It
 * decides nothing itself: it asks, validates the answer, and fails closed when no valid
 * answer comes.
 */
export class AuthWebhook {
  constructor(
    private readonly client: WebhookClient,
    private readonly options: AuthWebhookOptions = {},
  ) {}

  async password(identity: ConnectionIdentity, username: string, password: Buffer): Promise<AuthDecision> {
    const body: PasswordRequest = {
      ...requestFields(identity, username),
      passwordBase64: password.toString('base64'),
    };
    return this.ask('password', body, username, 'AUTH_BACKEND_ERROR');
  }

  async publicKey(identity: ConnectionIdentity, username: string, authorizedKey: string): Promise<AuthDecision> {
    const body: PublicKeyRequest = { ...requestFields(identity, username), publicKey: authorizedKey };
    return this.ask('pubkey', body, username, 'AUTH_BACKEND_ERROR');
  }

  /**
   * `/authz`: may the authenticated identity log in as `username`? The answer may rename the
   * user; without an `authenticatedUsername` the earlier one stands (ContainerSSH would clear
   * it, so a ContainerSSH authz server echoes it anyway). The maps it gets leave out sensitive
   * entries unless configured.
   */
  async authorize(identity: ConnectionIdentity, username: string, authenticatedUsername: string, maps: ConnectionMaps): Promise<AuthDecision> {
    const body: AuthorizationRequest = {
      ...requestFields(identity, username),
      authenticatedUsername,
      ...mapsForWebhook(maps, this.options.transmitSensitiveMetadata ?? false),
    };
    return this.ask('authz', body, authenticatedUsername, 'AUTHZ_BACKEND_ERROR');
  }

  private async ask(path: 'password' | 'pubkey' | 'authz', body: object, fallbackUsername: string, code: GatewayCode): Promise<AuthDecision> {
    let answer: AuthResponse;
    const started = performance.now();
    const authtype = path === 'authz' ? 'authorization' : path;
    try {
      answer = await this.client.post(path, body, AuthResponseSchema);
    } catch (error) {
      this.options.metrics?.authCall(authtype, { unavailable: code }, secondsSince(started));
      const why = error instanceof WebhookFailure ? error.describe() : 'failed';
      const service = path === 'authz' ? 'authorization' : 'authentication';
      throw new GatewayError(code, `Login refused: the ${service} service ${why}.`, { cause: error });
    }
    this.options.metrics?.authCall(authtype, answer.success ? 'accepted' : 'rejected', secondsSince(started));
    if (!answer.success) return { accepted: false };
    return {
      accepted: true,
      // ContainerSSH takes authenticatedUsername only when it is non-empty.
      authenticatedUsername: answer.authenticatedUsername || fallbackUsername,
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
