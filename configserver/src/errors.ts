import createError from '@fastify/error';
import { httpErrorMapper, webhookErrors } from '@portcullis/kit';

/**
 * Every code the configserver emits. HTTP errors go to the gateway as `{ code, message }`; the
 * message is fixed text a user may read, never a policy detail or a stack trace. README.md
 * documents each code, and errors.test.ts fails when one is missing there.
 */
export const WEBHOOK_ERRORS = webhookErrors(
  {
    requestInvalid: 'CONFIG_REQUEST_INVALID',
    requestTooLarge: 'CONFIG_REQUEST_TOO_LARGE',
    mediaTypeUnsupported: 'CONFIG_MEDIA_TYPE_UNSUPPORTED',
    clientNotAllowed: 'CONFIG_CLIENT_NOT_ALLOWED',
    routeNotFound: 'CONFIG_ROUTE_NOT_FOUND',
    internal: 'CONFIG_INTERNAL_ERROR',
  },
  'config service',
);
export const { RequestInvalidError, RequestTooLargeError, MediaTypeUnsupportedError, ClientNotAllowedError, RouteNotFoundError, InternalError } = WEBHOOK_ERRORS;
/** The policy produced an answer the gateway could not honour: an operator's mistake, never the caller's. */
export const RenderFailedError = createError('CONFIG_RENDER_FAILED', 'Your session could not be configured.', 500);
/** A policy deny rule matched this user; the message is the policy author's, written for users. */
export const PolicyDeniedError = createError<'CONFIG_POLICY_DENIED', 403, [string]>('CONFIG_POLICY_DENIED', 'Access denied by policy: %s', 403);
/** The rendered session broke a guardrail (a policy the loader could not rule out); fail closed. */
export const GuardrailViolatedError = createError('CONFIG_GUARDRAIL_VIOLATED', 'Your session could not be configured safely.', 500);

export const HTTP_ERRORS = [...Object.values(WEBHOOK_ERRORS), RenderFailedError, PolicyDeniedError, GuardrailViolatedError] as const;

/** `code` of every log line the configserver writes itself. */
export const LogCode = {
  LISTENING: 'CONFIGSERVER_LISTENING',
  OPS_LISTENING: 'CONFIGSERVER_OPS_LISTENING',
  STOPPING: 'CONFIGSERVER_STOPPING',
  CONFIG_INVALID: 'CONFIGSERVER_CONFIG_INVALID',
  POLICY_INVALID: 'CONFIGSERVER_POLICY_INVALID',
  POLICY_LOADED: 'CONFIGSERVER_POLICY_LOADED',
  START_FAILED: 'CONFIGSERVER_START_FAILED',
  CONFIG_SENT: 'CONFIGSERVER_CONFIG_SENT',
  RENDER_FAILED: 'CONFIGSERVER_RENDER_FAILED',
  REQUEST_REFUSED: 'CONFIGSERVER_REQUEST_REFUSED',
  REQUEST_FAILED: 'CONFIGSERVER_REQUEST_FAILED',
  REQUEST_COMPLETED: 'CONFIGSERVER_REQUEST_COMPLETED',
  POLICY_DENIED: 'CONFIGSERVER_POLICY_DENIED',
  GUARDRAIL_VIOLATED: 'CONFIGSERVER_GUARDRAIL_VIOLATED',
  POLICY_RELOADED: 'CONFIGSERVER_POLICY_RELOADED',
  POLICY_RELOAD_FAILED: 'CONFIGSERVER_POLICY_RELOAD_FAILED',
  /** Fallback for lines Fastify writes itself (e.g. its own "Server listening at"). */
  HTTP_EVENT: 'CONFIGSERVER_HTTP_EVENT',
} as const;

/** Maps anything thrown while handling a request to the error the client gets. */
export const toHttpError = httpErrorMapper(WEBHOOK_ERRORS, HTTP_ERRORS);

/** How this service answers errors, for kit's webhook app. */
export const WEBHOOK_ANSWERS = { errors: WEBHOOK_ERRORS, toHttpError, requestCompletedCode: LogCode.REQUEST_COMPLETED } as const;
