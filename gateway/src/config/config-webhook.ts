import { ConfigResponseSchema, type ConfigRequest, type ConfigResponse, type ConnectionMaps } from '@portcullis/wire';
import { GatewayError } from '../errors.ts';
import { WebhookFailure, type WebhookClient } from '../webhook/index.ts';
import type { ConnectionIdentity } from '../session/connection-identity.ts';

/**
 * One config webhook call per connection. The URL is used as given, as ContainerSSH does.
 * Anything but a valid configuration refuses the connection.
 */
export class ConfigWebhook {
  constructor(private readonly client: WebhookClient) {}

  async fetch(identity: ConnectionIdentity, username: string, authenticatedUsername: string, maps: ConnectionMaps): Promise<ConfigResponse> {
    const body: ConfigRequest = {
      username,
      authenticatedUsername,
      remoteAddress: identity.remoteAddress,
      connectionId: identity.connectionId,
      ...(identity.clientVersion ? { clientVersion: identity.clientVersion } : {}),
      ...withoutEmpty(maps),
    };
    try {
      return await this.client.post(null, body, ConfigResponseSchema);
    } catch (error) {
      const why = error instanceof WebhookFailure ? error.describe() : 'failed';
      throw new GatewayError('CONFIG_BACKEND_ERROR', `Session refused: the configuration service ${why}.`, { cause: error });
    }
  }
}

/** ContainerSSH leaves empty maps out of requests (omitempty). */
function withoutEmpty(maps: ConnectionMaps) {
  return Object.fromEntries(
    Object.entries(maps).filter(([, value]) => value !== undefined && Object.keys(value).length > 0),
  );
}
