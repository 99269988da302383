export {
  GatewayConfigSchema,
  type AuthWebhookConfig,
  type ConfigWebhookConfig,
  type GatewayConfig,
  type KubernetesSettings,
  type WebhookConfig,
  WEBHOOK_QUEUE_DEFAULTS,
} from './gateway-config.ts';
export { loadGatewayConfig, describeIssues } from './load.ts';
