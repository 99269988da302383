import { pino, type Logger } from 'pino';
import { BOUNDED_BINDING_SERIALIZERS, truncateLogFields } from './log-fields.ts';

export type { Logger };

/** Paths that could carry a credential; pino replaces their values before serialising. */
const REDACTED_PATHS = ['password', 'passwordBase64', '*.password', '*.passwordBase64', 'token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'key', '*.privateKey'];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { program: 'gateway' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), bindings: truncateLogFields, log: truncateLogFields },
      // Child bindings skip the bindings formatter; these keys may carry client-chosen text.
      serializers: BOUNDED_BINDING_SERIALIZERS,
    },
    destination ?? stdoutDestination(),
  );
}

/**
 * Lines to stdout written off the event loop (sonic-boom, batched while a write is in flight)
 * instead of one blocking write per line; pino flushes what is left when the process exits.
 * A write never exceeds PIPE_BUF, so lines from several workers sharing one pipe never interleave.
 */
function stdoutDestination(): pino.DestinationStream {
  return pino.destination({ dest: 1, sync: false, maxWrite: 4096 });
}

/** Serialises an error for operators without spreading untrusted objects into log bindings. */
export function errorFields(error: unknown): { error: { message: string; code?: string; cause?: string } } {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? error.cause.message : undefined;
    const code = (error as { code?: unknown }).code;
    return { error: { message: error.message, ...(typeof code === 'string' ? { code } : {}), ...(cause ? { cause } : {}) } };
  }
  return { error: { message: String(error) } };
}
