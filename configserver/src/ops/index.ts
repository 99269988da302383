export { checkLogTarget, formatRfc5424, LogTargetFields, openLogDestination, type LogTarget } from './log-destination.ts';
export { RequestMetrics } from './metrics.ts';
export { startOpsListeners, type HealthCheck, type OpsListeners } from './ops-server.ts';
export { fastifyLimits, HTTP_LIMIT_DEFAULTS, HttpLimitsSchema, httpsServerLimits, type HttpLimits } from './http-limits.ts';
