export { WebhookClient, WebhookFailure, webhookRefusal, type WebhookFailureReason } from './webhook-client.ts';
export { ConfigWebhook, type ConfigGrant, type ConfigWebhookOptions } from './config-webhook.ts';
export { supportedConfig } from './supported-config.ts';
export { AuthWebhook, type AuthDecision, type AuthWebhookOptions, type KeyboardInteractiveStep, type KeyboardInteractiveTurn } from './auth-webhook.ts';
