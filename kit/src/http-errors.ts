import type { HttpError } from './webhook-app.ts';

/** The program's own errors for what Fastify itself refuses while reading a request. */
export interface HttpErrorSet {
  /** Every error class the program answers with (their codes pass through as they are). */
  readonly own: readonly (new (detail: string) => HttpError)[];
  readonly tooLarge: () => HttpError;
  readonly mediaTypeUnsupported: () => HttpError;
  readonly invalid: (detail: string) => HttpError;
  readonly internal: () => HttpError;
}

/** Maps anything thrown while handling a request to the error the client gets; anything unknown is internal. */
export function httpErrorMapper(errors: HttpErrorSet): (err: unknown) => HttpError {
  const ownCodes = new Set<string>(errors.own.map((E) => new E('').code));
  return (err) => {
    const { code, statusCode } = (err ?? {}) as { code?: unknown; statusCode?: unknown };
    if (typeof code === 'string' && ownCodes.has(code)) return pick(err as HttpError);
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return pick(errors.tooLarge());
    if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return pick(errors.mediaTypeUnsupported());
    // Every other 4xx Fastify raises comes from reading the body: empty, not JSON, prototype poisoning.
    if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) return pick(errors.invalid('body: not a JSON object'));
    return pick(errors.internal());
  };
}

function pick(err: HttpError): HttpError {
  return { statusCode: err.statusCode, code: err.code, message: err.message };
}
