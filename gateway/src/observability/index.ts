export { createLogger, errorFields, type Logger } from './logger.ts';
export { GatewayMetrics, secondsSince, type AuthType } from './metrics.ts';
export { checkLogTarget, formatRfc5424, LogTargetFields, openLogDestination, type LogTarget } from '@portcullis/kit';
