import { pino, type Logger, type LevelWithSilent } from 'pino';
import { LogCode } from './errors.ts';

/**
 * pino JSON to stdout. Requests carry metadata marked `sensitive` (tokens); no code path logs
 * a body or its maps, and redaction keeps them out should one ever try.
 */
export function createLogger(level: LevelWithSilent = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'configserver' },
      redact: {
        paths: ['body', '*.body', 'metadata', '*.metadata', 'environment', '*.environment', 'files', '*.files', 'req.headers.authorization'],
        censor: '[REDACTED]',
      },
      // Every line carries a code; lines Fastify writes itself get a generic one (the call's own code wins).
      mixin: () => ({ code: LogCode.HTTP_EVENT }),
    },
    destination,
  );
}
