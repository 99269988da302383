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
    destination ?? process.stdout,
  );
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
