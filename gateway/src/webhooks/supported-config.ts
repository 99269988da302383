import { AppConfigSchema, type AppConfig, type ConnectionMaps, type WireAppConfig } from '@portcullis/wire';
import { GatewayError } from '../errors.ts';
import { describeIssues } from '../settings/index.ts';

/**
 * Narrows a config webhook's `config` (ContainerSSH's partial AppConfig) to what this gateway
 * runs. Anything it would otherwise have to ignore refuses the login with CONFIG_UNSUPPORTED:
 * a silently dropped `security` section would be a hole. Messages name sections, never values.
 */
export function supportedConfig(config: WireAppConfig, maps: ConnectionMaps): AppConfig {
  if (config.kubernetes?.connection !== undefined) {
    // Which cluster, and with what credentials, is the gateway operator's decision, never a webhook's.
    throw new GatewayError('CONFIG_UNSUPPORTED', 'Session refused: the configuration sets kubernetes cluster credentials, which come only from the gateway.');
  }
  if (config.backend === undefined) {
    // ContainerSSH would fall back to its static config file; the gateway has no per-user defaults.
    throw new GatewayError('CONFIG_UNSUPPORTED', 'Session refused: the configuration names no backend.');
  }
  if (config.backend === 'sshproxy' && Object.keys(maps.files ?? {}).length > 0) {
    throw new GatewayError('CONFIG_UNSUPPORTED', 'Session refused: files cannot be written through the SSH proxy backend.');
  }
  const parsed = AppConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new GatewayError('CONFIG_BACKEND_ERROR', 'Session refused: the configuration service answered with an invalid response.', {
      cause: new Error(describeIssues(parsed.error)),
    });
  }
  return parsed.data;
}
