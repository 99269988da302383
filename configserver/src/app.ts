import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { allowClientNames } from './client-names.ts';
import type { TlsMaterial } from './config.ts';
import { LogCode, RouteNotFoundError, toHttpError } from './errors.ts';
import { createLogger } from './logger.ts';
import { fastifyLimits, HttpLimitsSchema, httpsServerLimits, type HttpLimits, type RequestMetrics } from './ops/index.ts';
import type { Policy } from './policy/index.ts';
import type { PolicyStore } from './policy/store.ts';
import { configRoute, healthRoute, openApiRoute } from './routes/index.ts';

export interface AppOptions {
  policy: Policy;
  /** Omit for app.inject() tests; with it, the server demands a client certificate from `tls.ca`. */
  tls?: TlsMaterial;
  logger?: Logger;
  /** Request, connection and body bounds (defaults: HTTP_LIMIT_DEFAULTS). */
  http?: HttpLimits;
  /** Request counts and latencies for the ops listener's /metrics. */
  metrics?: RequestMetrics;
  /** The policy store serving `policy`, when the caller watches its health; one is made otherwise. */
  store?: PolicyStore;
}

/** Builds the configserver; does not listen (main.ts does), so tests can inject without a port. */
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
    if (answer.code === 'CONFIG_RENDER_FAILED') {
      // The cause says which field of the rendered answer broke the wire schema.
      request.log.error({ code: LogCode.RENDER_FAILED, err }, 'policy rendered an invalid config');
    } else if (answer.statusCode >= 500) {
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

  configRoute(app, options.policy, options.store);
  healthRoute(app);
  openApiRoute(app);
  return app;
}
