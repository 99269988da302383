export { WebhookClient, WebhookFailure, type WebhookFailureReason } from './webhook-client.ts';
