import { ConfigResponseSchema, type AppConfig, type ConfigRequest, type ConnectionMaps } from '@portcullis/wire';
import { GatewayError } from '../errors.ts';
import { secondsSince, type GatewayMetrics } from '../observability/index.ts';
import { WebhookFailure, webhookRefusal, type WebhookClient } from './webhook-client.ts';
import type { ConnectionIdentity } from '../identity/connection-identity.ts';
import { mapsForWebhook, mergeConnectionMaps, type FullConnectionMaps } from '../identity/connection-maps.ts';
import { supportedConfig } from './supported-config.ts';

export interface ConfigWebhookOptions {
  /** Send sensitive entries from auth and authz on to the config webhook (default: no). */
  readonly transmitSensitiveMetadata?: boolean;
  readonly metrics?: GatewayMetrics;
}

/** What the config webhook granted: a configuration this gateway supports, and the merged maps. */
export interface ConfigGrant {
  readonly config: AppConfig;
  readonly maps: FullConnectionMaps;
}

/**
 * One config webhook call per connection. The URL is used as given, as ContainerSSH does.
 * Anything but a valid configuration refuses the connection.
 */
export class ConfigWebhook {
  constructor(
    private readonly client: WebhookClient,
    private readonly options: ConfigWebhookOptions = {},
  ) {}

  /** Asks for the configuration; `maps` are what auth (and authz) set, merged into the answer's. */
  async fetch(identity: ConnectionIdentity, username: string, authenticatedUsername: string, maps: ConnectionMaps): Promise<ConfigGrant> {
    const body: ConfigRequest = {
      username,
      authenticatedUsername,
      remoteAddress: identity.remoteAddress,
      connectionId: identity.connectionId,
      ...(identity.clientVersion ? { clientVersion: identity.clientVersion } : {}),
      ...mapsForWebhook(maps, this.options.transmitSensitiveMetadata ?? false),
    };
    let response;
    const started = performance.now();
    try {
      response = await this.client.post(null, body, ConfigResponseSchema);
      this.options.metrics?.configCall('ok', secondsSince(started));
    } catch (error) {
      const policyDenial = error instanceof WebhookFailure && error.answer?.code === 'CONFIG_POLICY_DENIED' ? error.answer.message : undefined;
      if (policyDenial !== undefined) {
        // A decision, not an outage: the policy's own words are the user's answer.
        this.options.metrics?.configCall('denied', secondsSince(started));
        throw new GatewayError('CONFIG_POLICY_DENIED', `Login refused. ${userText(policyDenial)}`, { cause: error });
      }
      const refusal = webhookRefusal(error, 'CONFIG_BACKEND_ERROR', (why) => `Session refused: the configuration service ${why}.`);
      this.options.metrics?.configCall({ unavailable: refusal.code }, secondsSince(started));
      throw refusal;
    }
    const merged = mergeConnectionMaps(maps, response);
    return { config: supportedConfig(response.config, merged), maps: merged };
  }
}

/** A server's sentence on one line of the user's terminal: no control characters, bounded. */
function userText(text: string): string {
  const line = text.replace(/\p{Cc}+/gu, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}
