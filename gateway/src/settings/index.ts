export { GatewayConfigSchema, type GatewayConfig, type WebhookConfig } from './gateway-config.ts';
export { loadGatewayConfig, describeIssues } from './load.ts';
