export { AuthWebhook, type AuthDecision } from './auth-webhook.ts';
