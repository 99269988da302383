import createError from '@fastify/error';
import { httpErrorMapper, webhookErrors } from '@portcullis/kit';

/**
 * Every code the authserver emits. HTTP errors go to the gateway as `{ code, message }`; the
 * message is fixed text a user may read, never an upstream error or a stack trace. README.md
 * documents each code, and errors.test.ts fails when one is missing there.
 */
export const WEBHOOK_ERRORS = webhookErrors(
  {
    requestInvalid: 'AUTH_REQUEST_INVALID',
    requestTooLarge: 'AUTH_REQUEST_TOO_LARGE',
    mediaTypeUnsupported: 'AUTH_MEDIA_TYPE_UNSUPPORTED',
    clientNotAllowed: 'AUTH_CLIENT_NOT_ALLOWED',
    routeNotFound: 'AUTH_ROUTE_NOT_FOUND',
    internal: 'AUTH_INTERNAL_ERROR',
  },
  'auth service',
);
export const { RequestInvalidError, RequestTooLargeError, MediaTypeUnsupportedError, ClientNotAllowedError, RouteNotFoundError, InternalError } = WEBHOOK_ERRORS;
export const KerberosUnavailableError = createError(
  'AUTH_KERBEROS_UNAVAILABLE',
  'The Kerberos service cannot be reached; try again later.',
  503,
);

export const OidcUnavailableError = createError(
  'AUTH_OIDC_UNAVAILABLE',
  'The identity provider cannot be reached; try again later.',
  503,
);
export const GithubUnavailableError = createError('AUTH_GITHUB_UNAVAILABLE', 'GitHub cannot be reached; try again later.', 503);

export const HTTP_ERRORS = [
  ...Object.values(WEBHOOK_ERRORS),
  KerberosUnavailableError,
  OidcUnavailableError,
  GithubUnavailableError,
] as const;

/** `code` of every log line the authserver writes itself. */
export const LogCode = {
  LISTENING: 'AUTHSERVER_LISTENING',
  OPS_LISTENING: 'AUTHSERVER_OPS_LISTENING',
  STOPPING: 'AUTHSERVER_STOPPING',
  CONFIG_INVALID: 'AUTHSERVER_CONFIG_INVALID',
  START_FAILED: 'AUTHSERVER_START_FAILED',
  USERS_RELOADED: 'AUTHSERVER_USERS_RELOADED',
  USERS_RELOAD_FAILED: 'AUTHSERVER_USERS_RELOAD_FAILED',
  PASSWORD_ACCEPTED: 'AUTHSERVER_PASSWORD_ACCEPTED',
  PASSWORD_REJECTED: 'AUTHSERVER_PASSWORD_REJECTED',
  PUBKEY_ACCEPTED: 'AUTHSERVER_PUBKEY_ACCEPTED',
  PUBKEY_REJECTED: 'AUTHSERVER_PUBKEY_REJECTED',
  AUTHZ_ACCEPTED: 'AUTHSERVER_AUTHZ_ACCEPTED',
  AUTHZ_REJECTED: 'AUTHSERVER_AUTHZ_REJECTED',
  KEYBOARD_INTERACTIVE_STEP: 'AUTHSERVER_KEYBOARD_INTERACTIVE_STEP',
  LOGIN_THROTTLED: 'AUTHSERVER_LOGIN_THROTTLED',
  LOGIN_BLOCK_STARTED: 'AUTHSERVER_LOGIN_BLOCK_STARTED',
  CERT_ACCEPTED: 'AUTHSERVER_CERT_ACCEPTED',
  CERT_INVALID: 'AUTHSERVER_CERT_INVALID',
  CERT_CA_UNKNOWN: 'AUTHSERVER_CERT_CA_UNKNOWN',
  CERT_REVOKED: 'AUTHSERVER_CERT_REVOKED',
  CERT_NOT_YET_VALID: 'AUTHSERVER_CERT_NOT_YET_VALID',
  CERT_EXPIRED: 'AUTHSERVER_CERT_EXPIRED',
  CERT_PRINCIPAL_MISMATCH: 'AUTHSERVER_CERT_PRINCIPAL_MISMATCH',
  CERT_SOURCE_ADDRESS_DENIED: 'AUTHSERVER_CERT_SOURCE_ADDRESS_DENIED',
  CERT_CRITICAL_OPTION_UNSUPPORTED: 'AUTHSERVER_CERT_CRITICAL_OPTION_UNSUPPORTED',
  KEYBOARD_INTERACTIVE_ACCEPTED: 'AUTHSERVER_KEYBOARD_INTERACTIVE_ACCEPTED',
  KEYBOARD_INTERACTIVE_REJECTED: 'AUTHSERVER_KEYBOARD_INTERACTIVE_REJECTED',
  REQUEST_REFUSED: 'AUTHSERVER_REQUEST_REFUSED',
  REQUEST_FAILED: 'AUTHSERVER_REQUEST_FAILED',
  REQUEST_COMPLETED: 'AUTHSERVER_REQUEST_COMPLETED',
  /** Fallback for lines Fastify writes itself (e.g. its own "Server listening at"). */
  HTTP_EVENT: 'AUTHSERVER_HTTP_EVENT',
  KERBEROS_ACCEPTED: 'AUTHSERVER_KERBEROS_ACCEPTED',
  KERBEROS_REJECTED: 'AUTHSERVER_KERBEROS_REJECTED',
  KERBEROS_USERNAME_MISMATCH: 'AUTHSERVER_KERBEROS_USERNAME_DOES_NOT_MATCH',
  KERBEROS_UNAVAILABLE: 'AUTHSERVER_KERBEROS_UNAVAILABLE',
  OIDC_AUTHENTICATED: 'AUTHSERVER_OIDC_AUTHENTICATED',
  OIDC_REFUSED: 'AUTHSERVER_OIDC_REFUSED',
  OIDC_UNAVAILABLE: 'AUTHSERVER_OIDC_UNAVAILABLE',
  GITHUB_AUTHENTICATED: 'AUTHSERVER_GITHUB_AUTHENTICATED',
  GITHUB_REFUSED: 'AUTHSERVER_GITHUB_REFUSED',
  GITHUB_UNAVAILABLE: 'AUTHSERVER_GITHUB_UNAVAILABLE',
} as const;

/** Maps anything thrown while handling a request to the error the client gets. */
export const toHttpError = httpErrorMapper(WEBHOOK_ERRORS, HTTP_ERRORS);

/** How this service answers errors, for kit's webhook app. */
export const WEBHOOK_ANSWERS = { errors: WEBHOOK_ERRORS, toHttpError, requestCompletedCode: LogCode.REQUEST_COMPLETED } as const;
