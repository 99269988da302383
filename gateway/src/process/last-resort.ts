import { errorFields, type Logger } from '../observability/index.ts';

type ProcessFaultKind = 'uncaughtException' | 'unhandledRejection';

/**
 * The process-level last resort: an error no connection contained is logged with a stable
 * code and counted, and the gateway keeps serving everyone else. Every connection contains its
 * own faults (ChannelGuard, the connection's fault handler); reaching this is a bug to fix.
 */
export function installLastResort(log: Logger, count: (kind: ProcessFaultKind) => void): void {
  process.on('uncaughtException', (error) => {
    log.error({ code: 'GATEWAY_UNCAUGHT_EXCEPTION', ...errorFields(error) }, 'uncaught exception contained; the gateway keeps running');
    count('uncaughtException');
  });
  process.on('unhandledRejection', (reason) => {
    log.error({ code: 'GATEWAY_UNHANDLED_REJECTION', ...errorFields(reason) }, 'unhandled rejection contained; the gateway keeps running');
    count('unhandledRejection');
  });
}
