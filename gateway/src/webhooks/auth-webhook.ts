import {
  AuthResponseSchema,
  KeyboardInteractiveResponseSchema,
  type KeyboardInteractiveChallenge,
  type KeyboardInteractiveRequest,
  type KeyboardInteractiveResponse,
  type AuthorizationRequest,
  type CaCertificate,
  type AuthResponse,
  type ConnectionMaps,
  type PasswordRequest,
  type PublicKeyRequest,
} from '@portcullis/wire';
import type { GatewayCode } from '../errors.ts';
import { secondsSince, type GatewayMetrics } from '../observability/index.ts';
import { webhookRefusal, type WebhookClient } from './webhook-client.ts';
import type { ConnectionIdentity } from '../identity/connection-identity.ts';
import { mapsForWebhook } from '../identity/connection-maps.ts';

/** What the auth webhook decided. Unavailable is not denied: that case throws a GatewayError. */
export type AuthDecision = { accepted: true; authenticatedUsername: string; maps: ConnectionMaps } | { accepted: false };

/** One answer of `/keyboard-interactive`: the next step to show the client, or the decision. */
export type KeyboardInteractiveStep = { kind: 'challenge'; challenge: KeyboardInteractiveChallenge; state: string | undefined } | { kind: 'decision'; decision: AuthDecision };

/** What the gateway sends with each step: the answers to the previous one. */
export interface KeyboardInteractiveTurn {
  readonly round: number;
  readonly submethods: string;
  readonly state: string | undefined;
  /** Secrets (a password, a one-time code): never logged. */
  readonly answers: string[];
}

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

  async publicKey(identity: ConnectionIdentity, username: string, authorizedKey: string, caCertificate?: CaCertificate): Promise<AuthDecision> {
    const body: PublicKeyRequest = { ...requestFields(identity, username), publicKey: authorizedKey, ...(caCertificate ? { caCertificate } : {}) };
    return this.ask('pubkey', body, username, 'AUTH_BACKEND_ERROR');
  }

  /**
   * `POST /keyboard-interactive` (Portcullis extension): one step of a conversation the auth
   * server drives. The caller shows a challenge to the client verbatim and calls again with
   * the answers. An answer that is neither a valid step nor a decision is "unavailable".
   */
  async keyboardInteractive(identity: ConnectionIdentity, username: string, turn: KeyboardInteractiveTurn): Promise<KeyboardInteractiveStep> {
    const body: KeyboardInteractiveRequest = {
      ...requestFields(identity, username),
      round: turn.round,
      ...(turn.submethods ? { submethods: turn.submethods } : {}),
      ...(turn.state !== undefined ? { state: turn.state } : {}),
      answers: turn.answers,
    };
    const started = performance.now();
    let answer: KeyboardInteractiveResponse;
    try {
      answer = await this.client.post('keyboard-interactive', body, KeyboardInteractiveResponseSchema);
    } catch (error) {
      const refusal = webhookRefusal(error, 'AUTH_BACKEND_ERROR', (why) => `Login refused: the authentication service ${why}.`);
      this.options.metrics?.authCall('keyboard-interactive', { unavailable: refusal.code }, secondsSince(started));
      throw refusal;
    }
    if (answer.challenge) return { kind: 'challenge', challenge: answer.challenge, state: answer.state };
    this.options.metrics?.authCall('keyboard-interactive', answer.success ? 'accepted' : 'rejected', secondsSince(started));
    if (!answer.success) return { kind: 'decision', decision: { accepted: false } };
    return {
      kind: 'decision',
      decision: {
        accepted: true,
        authenticatedUsername: answer.authenticatedUsername || username,
        maps: { metadata: answer.metadata, environment: answer.environment, files: answer.files },
      },
    };
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
      const service = path === 'authz' ? 'authorization' : 'authentication';
      const refusal = webhookRefusal(error, code, (why) => `Login refused: the ${service} service ${why}.`);
      this.options.metrics?.authCall(authtype, { unavailable: refusal.code }, secondsSince(started));
      throw refusal;
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
