export { ConfigWebhook } from './config-webhook.ts';
