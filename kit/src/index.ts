export { checkLogTarget, formatRfc5424, LogTargetFields, openLogDestination, type LogTarget } from './log-destination.ts';
export { DEFAULT_METRICS_OPTIONS, RequestMetrics } from './request-metrics.ts';
export { startOpsListeners, type HealthCheck, type OpsListeners } from './ops-server.ts';
export { fastifyLimits, HTTP_LIMIT_DEFAULTS, HttpLimitsSchema, httpsServerLimits, type HttpLimits } from './http-limits.ts';
export { DurationSchema, durationSchema, parseDuration } from './duration.ts';
export { allowClientNames, clientNames } from './client-names.ts';
export { firstIssue } from './first-issue.ts';
export { frozenAnswer, isFrozenAnswer } from './frozen-answer.ts';
export { certificateParts, verifySshSignature } from './ssh-signature.ts';
export { buildWebhookApp, mtlsServerOptions, type WebhookApp, type WebhookAppOptions } from './webhook-app.ts';
export {
  ConfigError,
  configReader,
  listenSchema,
  opsConfigFields,
  parseConfigText,
  readConfigFile,
  readTlsMaterial,
  resolveCommonPaths,
  WebhookTlsSchema,
  type TlsMaterial,
  type WebhookTls,
} from './webhook-config.ts';
export { type HttpError, httpErrorMapper, webhookErrors, type WebhookErrorCodes, type WebhookErrors } from './http-errors.ts';
export { registerOpenApi, responses, type Answer, type OpenApiComponents, type OpenApiOptions } from './openapi.ts';
export { runMain, serveWebhook, type ServeOptions } from './serve.ts';
