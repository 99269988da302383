export { WebhookClient, WebhookFailure, webhookRefusal, type WebhookFailureReason } from './webhook-client.ts';
export { CallQueue, CallQueueRefusal, type CallQueueLimits } from './call-queue.ts';
