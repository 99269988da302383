import { wireOpenApi } from '@portcullis/wire';
import { buildWebhookApp, type HttpLimits, type RequestMetrics, type TlsMaterial } from '@portcullis/kit';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { LogCode, WEBHOOK_ANSWERS } from './errors.ts';
import { createLogger } from './logger.ts';
import type { KerberosPasswordCheck } from './methods/kerberos/index.ts';
import { LoginThrottle } from './methods/brute-force/index.ts';
import type { UserCertificateVerifier } from './methods/certificate/index.ts';
import { ConversationStore, passwordTotpFlow, type KeyboardInteractiveFlow } from './methods/keyboard-interactive/index.ts';
import { authzRoute, keyboardInteractiveRoute, passwordRoute, pubkeyRoute } from './routes/index.ts';
import type { UserDirectory } from './users-file.ts';

export interface AppOptions {
  users: UserDirectory;
  /** Omit for app.inject() tests; with it, the server demands a client certificate from `tls.ca`. */
  tls?: TlsMaterial;
  logger?: Logger;
  /** Request, connection and body bounds (defaults: HTTP_LIMIT_DEFAULTS). */
  http?: HttpLimits;
  /** Request counts and latencies for the ops listener's /metrics. */
  metrics?: RequestMetrics;
  /** With it, /password asks the Kerberos KDC instead of the users file. */
  kerberos?: KerberosPasswordCheck;
  /**
   * Keyboard-interactive flows, tried in order; the first whose `start` takes the user runs the
   * conversation. Default: password then, for users with `totpSecret`, a one-time code.
   */
  keyboardInteractiveFlows?: readonly KeyboardInteractiveFlow[];
  /** Verifies OpenSSH user certificates on /pubkey; without it every certificate is refused. */
  certificates?: UserCertificateVerifier;
  /** Brute-force protection across connections; `null` turns it off. Default: the default limits. */
  throttle?: LoginThrottle | null;
}

/** Builds the authserver; does not listen (main.ts does), so tests can inject without a port. */
export function buildApp(options: AppOptions): FastifyInstance {
  return buildWebhookApp({
    ...options,
    ...WEBHOOK_ANSWERS,
    logger: options.logger ?? createLogger('silent'),
    openapi: wireOpenApi('Portcullis authserver'),
    routes: (app) => {
      const throttle = options.throttle === null ? undefined : (options.throttle ?? new LoginThrottle());
      passwordRoute(app, options.users, throttle, options.kerberos);
      pubkeyRoute(app, options.users, options.certificates);
      authzRoute(app, options.users);
      keyboardInteractiveRoute(app, options.keyboardInteractiveFlows ?? [passwordTotpFlow(options.users)], new ConversationStore(), throttle);
    },
    logError: (request, err, answer) => {
      // 503 is a dependency that is down (e.g. the KDC), logged where it was met; 500 is a bug.
      if (answer.statusCode >= 500 && answer.statusCode !== 503) {
        request.log.error({ code: LogCode.REQUEST_FAILED, err }, 'request failed');
      } else {
        request.log.info({ code: LogCode.REQUEST_REFUSED, errorCode: answer.code, statusCode: answer.statusCode }, answer.message);
      }
    },
  });
}
