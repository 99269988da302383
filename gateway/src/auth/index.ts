export { AuthWebhook, type AuthDecision, type AuthWebhookOptions } from './auth-webhook.ts';
