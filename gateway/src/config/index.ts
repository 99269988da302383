export { ConfigWebhook, type ConfigGrant, type ConfigWebhookOptions } from './config-webhook.ts';
export { supportedConfig } from './supported-config.ts';
