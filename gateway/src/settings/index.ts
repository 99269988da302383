export {
  GatewayConfigSchema,
  type AuthWebhookConfig,
  type ConfigWebhookConfig,
  type GatewayConfig,
  type WebhookConfig,
} from './gateway-config.ts';
export { loadGatewayConfig, describeIssues } from './load.ts';
