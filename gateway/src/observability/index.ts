export { createLogger, errorFields, type Logger } from './logger.ts';
