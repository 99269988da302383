import { wireOpenApi } from '@portcullis/wire';
import { buildWebhookApp, type HttpLimits, type RequestMetrics, type TlsMaterial } from '@portcullis/kit';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { LogCode, WEBHOOK_ANSWERS } from './errors.ts';
import { createLogger } from './logger.ts';
import type { Policy } from './policy/index.ts';
import type { PolicyStore } from './policy/store.ts';
import { configRoute } from './routes/index.ts';

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
  return buildWebhookApp({
    ...options,
    ...WEBHOOK_ANSWERS,
    logger: options.logger ?? createLogger('silent'),
    openapi: wireOpenApi('Portcullis configserver'),
    routes: (app) => configRoute(app, options.policy, options.store),
    logError: (request, err, answer) => {
      if (answer.code === 'CONFIG_RENDER_FAILED') {
        // The cause says which field of the rendered answer broke the wire schema.
        request.log.error({ code: LogCode.RENDER_FAILED, err }, 'policy rendered an invalid config');
      } else if (answer.statusCode >= 500) {
        request.log.error({ code: LogCode.REQUEST_FAILED, err }, 'request failed');
      } else {
        request.log.info({ code: LogCode.REQUEST_REFUSED, errorCode: answer.code, statusCode: answer.statusCode }, answer.message);
      }
    },
  });
}
