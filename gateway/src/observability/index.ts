export { createLogger, errorFields, type Logger } from './logger.ts';
export { GatewayMetrics, secondsSince, type AuthType } from './metrics.ts';
export { startOpsServer, type HealthCheck } from './ops-server.ts';
export { checkLogTarget, formatRfc5424, LogTargetFields, openLogDestination, type LogTarget } from './log-destination.ts';
