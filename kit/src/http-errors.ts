import createError from '@fastify/error';

/** What a client gets for an error: a status and a `{ code, message }` body. */
export interface HttpError {
  statusCode: number;
  code: string;
  message: string;
}

/** The codes of the errors every webhook service answers with; each program names its own. */
export interface WebhookErrorCodes {
  readonly requestInvalid: string;
  readonly requestTooLarge: string;
  readonly mediaTypeUnsupported: string;
  readonly clientNotAllowed: string;
  readonly routeNotFound: string;
  readonly internal: string;
}

/**
 * The error classes every webhook service answers with, under the program's codes; `service`
 * names it in the messages ("the auth service"). Messages are fixed text a user may read.
 */
export function webhookErrors(codes: WebhookErrorCodes, service: string) {
  return {
    RequestInvalidError: createError<string, 400, [string]>(codes.requestInvalid, 'The request is invalid: %s', 400),
    RequestTooLargeError: createError(codes.requestTooLarge, 'The request body is too large.', 413),
    MediaTypeUnsupportedError: createError(codes.mediaTypeUnsupported, 'The request body must be application/json.', 415),
    ClientNotAllowedError: createError(codes.clientNotAllowed, `This client certificate may not call the ${service}.`, 403),
    RouteNotFoundError: createError(codes.routeNotFound, 'There is no such endpoint.', 404),
    InternalError: createError(codes.internal, `The ${service} failed; try again later.`, 500),
  };
}
export type WebhookErrors = ReturnType<typeof webhookErrors>;

/** Maps anything thrown while handling a request to the error the client gets; anything unknown is internal. */
export function httpErrorMapper(errors: WebhookErrors, own: readonly (new (detail: string) => HttpError)[]): (err: unknown) => HttpError {
  const ownCodes = new Set<string>([...Object.values(errors), ...own].map((E) => new E('').code));
  return (err) => {
    const { code, statusCode } = (err ?? {}) as { code?: unknown; statusCode?: unknown };
    if (typeof code === 'string' && ownCodes.has(code)) return pick(err as HttpError);
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return pick(new errors.RequestTooLargeError());
    if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return pick(new errors.MediaTypeUnsupportedError());
    // Every other 4xx Fastify raises comes from reading the body: empty, not JSON, prototype poisoning.
    if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) return pick(new errors.RequestInvalidError('body: not a JSON object'));
    return pick(new errors.InternalError());
  };
}

function pick(err: HttpError): HttpError {
  return { statusCode: err.statusCode, code: err.code, message: err.message };
}
