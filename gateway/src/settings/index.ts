export {
  GatewayConfigSchema,
  type AuthWebhookConfig,
  type ConfigWebhookConfig,
  type GatewayConfig,
  type KubernetesSettings,
  type WebhookConfig,
} from './gateway-config.ts';
export { loadGatewayConfig, describeIssues } from './load.ts';
