import { pino, type Logger, type LevelWithSilent } from 'pino';
import { LogCode } from './errors.ts';

/**
 * pino JSON to stdout. Redaction is a second line of defence: no code path logs a request body,
 * but if one ever did, the password would still not reach the log.
 */
export function createLogger(level: LevelWithSilent = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'authserver' },
      redact: {
        // metadata, environment and files may hold secrets marked sensitive; no code path logs them.
        paths: [
          'password',
          'passwordBase64',
          '*.password',
          '*.passwordBase64',
          'body',
          '*.body',
          'metadata',
          'environment',
          'files',
          '*.metadata',
          '*.environment',
          '*.files',
          'req.headers.authorization',
          // keyboard-interactive answers and conversation state, one-time code secrets
          'answers',
          '*.answers',
          'state',
          '*.state',
          'totpSecret',
          '*.totpSecret',
        ],
        censor: '[REDACTED]',
      },
      // Every line carries a code; lines Fastify writes itself get a generic one (the call's own code wins).
      mixin: () => ({ code: LogCode.HTTP_EVENT }),
    },
    destination,
  );
}
