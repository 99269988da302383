import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { allowClientNames } from './client-names.ts';
import type { TlsMaterial } from './config.ts';
import { LogCode, RouteNotFoundError, toHttpError } from './errors.ts';
import { createLogger } from './logger.ts';
import { fastifyLimits, HttpLimitsSchema, httpsServerLimits, type HttpLimits, type RequestMetrics } from './ops/index.ts';
import type { KerberosPasswordCheck } from './methods/kerberos/index.ts';
import { LoginThrottle } from './methods/brute-force/index.ts';
import type { UserCertificateVerifier } from './methods/certificate/index.ts';
import { ConversationStore, passwordTotpFlow, type KeyboardInteractiveFlow } from './methods/keyboard-interactive/index.ts';
import { authzRoute, healthRoute, keyboardInteractiveRoute, openApiRoute, passwordRoute, pubkeyRoute } from './routes/index.ts';
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
  const { tls } = options;
  const http = options.http ?? HttpLimitsSchema.parse(undefined);
  const app = Fastify({
    loggerInstance: options.logger ?? createLogger('silent'),
    // Fastify's own request lines have no code; an onResponse hook below writes ours instead.
    logController: new LogController({ disableRequestLogging: true }),
    ...fastifyLimits(http),
    ...(tls && {
      https: {
        ...httpsServerLimits(http),
        cert: tls.cert,
        key: tls.key,
        ca: tls.ca,
        // No valid client certificate from our CA: the TLS handshake fails and no handler runs.
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2' as const,
      },
    }),
    // The https variant is typed on https.Server; routes and tests only need the common surface.
  }) as unknown as FastifyInstance;

  if (tls?.allowedClientNames) app.addHook('onRequest', allowClientNames(tls.allowedClientNames));
  options.metrics?.instrument(app);

  app.addHook('onResponse', async (request, reply) => {
    request.log.debug(
      {
        code: LogCode.REQUEST_COMPLETED,
        method: request.method,
        route: request.routeOptions.url ?? '(none)',
        statusCode: reply.statusCode,
        responseTimeMs: Math.round(reply.elapsedTime),
      },
      'request completed',
    );
  });

  app.setErrorHandler(async (err, request, reply) => {
    const answer = toHttpError(err);
    // 503 is a dependency that is down (e.g. the KDC), logged where it was met; 500 is a bug.
    if (answer.statusCode >= 500 && answer.statusCode !== 503) {
      request.log.error({ code: LogCode.REQUEST_FAILED, err }, 'request failed');
    } else {
      request.log.info({ code: LogCode.REQUEST_REFUSED, errorCode: answer.code, statusCode: answer.statusCode }, answer.message);
    }
    return reply.code(answer.statusCode).send({ code: answer.code, message: answer.message });
  });

  app.setNotFoundHandler(async (_request, reply) => {
    const err = new RouteNotFoundError();
    return reply.code(404).send({ code: err.code, message: err.message });
  });

  const throttle = options.throttle === null ? undefined : (options.throttle ?? new LoginThrottle());
  passwordRoute(app, options.users, throttle, options.kerberos);
  pubkeyRoute(app, options.users, options.certificates);
  authzRoute(app, options.users);
  keyboardInteractiveRoute(app, options.keyboardInteractiveFlows ?? [passwordTotpFlow(options.users)], new ConversationStore(), throttle);
  healthRoute(app);
  openApiRoute(app);
  return app;
}
