import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { z } from 'zod';
import { allowClientNames } from './client-names.ts';
import { fastifyLimits, HttpLimitsSchema, httpsServerLimits, type HttpLimits } from './http-limits.ts';
import { registerOpenApi, responses, type OpenApiOptions } from './openapi.ts';
import { firstIssue } from './first-issue.ts';
import { isFrozenAnswer } from './frozen-answer.ts';
import type { HttpError, WebhookErrors } from './http-errors.ts';
import type { RequestMetrics } from './request-metrics.ts';
import type { TlsMaterial } from './webhook-config.ts';

/** `/healthz` on the mTLS port: the process answers (the ops listener checks dependencies). */
const HealthSchema = z.object({ status: z.literal('ok') });

export interface WebhookAppOptions {
  logger: Logger;
  /** Omit for app.inject() tests; with it, the server demands a client certificate from `tls.ca`. */
  tls?: TlsMaterial | undefined;
  /** Request, connection and body bounds (defaults: HTTP_LIMIT_DEFAULTS). */
  http?: HttpLimits | undefined;
  /** Request counts and latencies for the ops listener's /metrics. */
  metrics?: RequestMetrics | undefined;
  /** The `code` of the debug line written for every answered request. */
  requestCompletedCode: string;
  /** The document served at `/openapi.json`, generated from the routes' schemas. */
  openapi: OpenApiOptions;
  /** Registers the service's routes, each with its body and per-status response schemas. */
  routes: (app: WebhookApp) => void;
  /** The program's webhook errors: a client name not allowed, a body its schema refuses, no such route. */
  errors: WebhookErrors;
  /** Maps anything thrown while handling a request to the error the client gets. */
  toHttpError: (err: unknown) => HttpError;
  /** Logs a request that ended in `answer`, once, where the program knows which errors are bugs. */
  logError: (request: FastifyRequest, err: unknown, answer: HttpError) => void;
}

/** The app routes are declared on: bodies and answers typed from their zod schemas. */
export type WebhookApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, ZodTypeProvider>;

/**
 * A webhook service's Fastify app around its routes: mutual TLS, the program's limits,
 * client-name pin, request metrics, one debug line per request and `{ code, message }` errors.
 * It does not listen (main.ts does), so tests can inject without a port.
 */
export function buildWebhookApp(options: WebhookAppOptions): FastifyInstance {
  const { tls, errors } = options;
  const http = options.http ?? HttpLimitsSchema.parse(undefined);
  const app = Fastify({
    loggerInstance: options.logger,
    // Fastify's own request lines have no code; an onResponse hook below writes ours instead.
    logController: new LogController({ disableRequestLogging: true }),
    ...fastifyLimits(http),
    ...(tls && { https: mtlsServerOptions(tls, http) }),
    // The https variant is typed on https.Server; routes and tests only need the common surface.
  }) as unknown as FastifyInstance;

  if (tls?.allowedClientNames)
    app.addHook(
      'onRequest',
      allowClientNames(tls.allowedClientNames, () => new errors.ClientNotAllowedError()),
    );
  options.metrics?.instrument(app);

  app.addHook('onResponse', async (request, reply) => {
    request.log.debug(
      {
        code: options.requestCompletedCode,
        method: request.method,
        route: request.routeOptions.url ?? '(none)',
        statusCode: reply.statusCode,
        responseTimeMs: Math.round(reply.elapsedTime),
      },
      'request completed',
    );
  });

  app.setErrorHandler(async (err, request, reply) => {
    const answer = options.toHttpError(err);
    options.logError(request, err, answer);
    return reply.code(answer.statusCode).send({ code: answer.code, message: answer.message });
  });

  app.setNotFoundHandler(async (_request, reply) => {
    const answer = new errors.RouteNotFoundError();
    return reply.code(answer.statusCode).send({ code: answer.code, message: answer.message });
  });

  // Bodies are parsed by their route's zod schema before the handler runs; a refusal is the
  // program's own request-invalid error naming the field, as a client has always seen it.
  app.setValidatorCompiler(({ schema }) => (data: unknown) => {
    const result = (schema as z.ZodType).safeParse(data);
    return result.success ? { value: result.data } : { error: new errors.RequestInvalidError(firstIssue(result.error)) };
  });
  // Answers are checked against their status's schema and sent as parsed: unlisted fields stay out.
  app.setSerializerCompiler(({ schema }) => {
    // A frozen answer (see frozenAnswer) cannot change: its checked JSON is kept for the next request.
    const checked = new WeakMap<object, string>();
    return (data: unknown) => {
      const known = isFrozenAnswer(data) ? checked.get(data) : undefined;
      if (known !== undefined) return known;
      const result = (schema as z.ZodType).safeParse(data);
      // An answer its schema refuses is a bug: never sent as it is.
      if (!result.success) throw new errors.InternalError();
      const json = JSON.stringify(result.data);
      if (isFrozenAnswer(data)) checked.set(data, json);
      return json;
    };
  });

  registerOpenApi(app, options.openapi);
  void app.register(async (scoped) => {
    const routes = scoped.withTypeProvider<ZodTypeProvider>();
    options.routes(routes);
    const schema = { operationId: 'health', summary: 'Liveness', ...responses({ 200: { schema: HealthSchema, description: 'Up' } }) };
    routes.get('/healthz', { schema }, async () => ({ status: 'ok' as const }));
  });
  return app;
}

/** HTTPS options that admit only clients whose certificate chains to `tls.ca`. */
export function mtlsServerOptions(tls: TlsMaterial, http: HttpLimits) {
  return {
    ...httpsServerLimits(http),
    cert: tls.cert,
    key: tls.key,
    ca: tls.ca,
    // No valid client certificate from our CA: the TLS handshake fails and no handler runs.
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2' as const,
  };
}
