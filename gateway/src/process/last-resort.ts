import { errorFields, type Logger } from '../observability/index.ts';

type ProcessFaultKind = 'uncaughtException' | 'unhandledRejection';

/** How many stack frames the line keeps: enough to find the bug, never shown to a user. */
const STACK_FRAMES = 10;

/**
 * The process-level last resort: an error no connection contained is logged with a stable
 * code and counted, and the gateway keeps serving everyone else. Every connection contains its
 * own faults (ChannelGuard, the connection's fault handler); reaching this is a bug to fix, so
 * the line carries where it was thrown.
 */
export function installLastResort(log: Logger, count: (kind: ProcessFaultKind) => void): void {
  process.on('uncaughtException', (error) => {
    log.error({ code: 'GATEWAY_UNCAUGHT_EXCEPTION', ...errorFields(error), ...stackOf(error) }, 'uncaught exception contained; the gateway keeps running');
    count('uncaughtException');
  });
  process.on('unhandledRejection', (reason) => {
    log.error({ code: 'GATEWAY_UNHANDLED_REJECTION', ...errorFields(reason), ...stackOf(reason) }, 'unhandled rejection contained; the gateway keeps running');
    count('unhandledRejection');
  });
}

function stackOf(error: unknown): { stack?: string } {
  const frames = error instanceof Error ? (error.stack ?? '').split('\n').slice(1, STACK_FRAMES + 1) : [];
  return frames.length > 0 ? { stack: frames.map((frame) => frame.trim()).join(' | ') } : {};
}
