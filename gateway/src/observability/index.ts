export { createLogger, errorFields, type Logger } from './logger.ts';
export { GatewayMetrics, connectionErrorLevel, secondsSince, type AuthType, type ConnectionErrorLevel } from './metrics.ts';
export { checkLogTarget, formatRfc5424, LogTargetFields, openLogDestination, type LogTarget } from '@portcullis/kit';
