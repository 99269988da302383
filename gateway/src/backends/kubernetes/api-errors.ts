import { GatewayError, type GatewayCode } from '../../errors.ts';

/** What an API failure says about itself: the HTTP status and the `Status` body's message. */
export interface ApiFailure {
  readonly status?: number;
  readonly message: string;
  /** A transport failure: nothing answered (refused, reset, timed out, TLS). */
  readonly transport: boolean;
}

/** System error codes of a connection that never got an answer (refused, reset, timed out, DNS, TLS). */
const TRANSPORT_CODE = /^(ECONN\w+|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_\w+|EPIPE|ERR_TLS\w*|\w*CERT\w*)$/;

/** Reads client-node's ApiException (`code`, `body` as text or object), a fetch failure, or a WebSocket error. */
export function describeApiFailure(cause: unknown): ApiFailure {
  const error = (cause ?? {}) as { code?: unknown; body?: unknown; message?: unknown; statusCode?: unknown; type?: unknown; errno?: unknown; cause?: unknown };
  const status = typeof error.code === 'number' ? error.code : typeof error.statusCode === 'number' ? error.statusCode : undefined;
  let message = '';
  let body = error.body;
  if (typeof body === 'string') {
    const text: string = body;
    try {
      body = JSON.parse(text) as unknown;
    } catch {
      message = text;
    }
  }
  if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') message = (body as { message: string }).message;
  if (!message) message = String(error.message ?? cause);
  const systemCode = typeof error.code === 'string' ? error.code : typeof (error.cause as { code?: unknown } | undefined)?.code === 'string' ? String((error.cause as { code: string }).code) : '';
  const transport = status === undefined && (TRANSPORT_CODE.test(systemCode) || error.type === 'system' || /ECONNREFUSED|ECONNRESET|ETIMEDOUT|socket hang up|request timed out/i.test(message));
  // A WebSocket upgrade the server refused: `Unexpected server response: 403`.
  const upgrade = /Unexpected server response: (\d{3})/.exec(message);
  return { ...(status !== undefined ? { status } : upgrade ? { status: Number(upgrade[1]) } : {}), message, transport };
}

/**
 * Turns what the API server (or the way to it) answered into one line a user can act on.
 * The server's own `Status` message goes to the operator log as the cause, never to the client.
 */
export function podCreateError(cause: unknown): GatewayError {
  const failure = describeApiFailure(cause);
  const make = (code: GatewayCode, message: string) => new GatewayError(code, message, { cause });
  if (failure.transport || failure.status === 502 || failure.status === 503 || failure.status === 504) {
    return make('KUBERNETES_API_UNREACHABLE', 'Could not start your session: the Kubernetes cluster cannot be reached.');
  }
  if (/exceeded quota/i.test(failure.message)) {
    return make('KUBERNETES_QUOTA_EXCEEDED', 'Could not start your session: the session quota is used up (too many sessions are running). Try again later.');
  }
  if (/violates PodSecurity|admission webhook .*denied|denied the request/i.test(failure.message)) {
    return make('KUBERNETES_ADMISSION_DENIED', "Could not start your session: the cluster's admission policy refused its pod.");
  }
  if (failure.status === 401 || (failure.status === 403 && /cannot \w+ resource|forbidden: User/i.test(failure.message))) {
    return make('KUBERNETES_API_FORBIDDEN', 'Could not start your session: the gateway is not allowed to manage session pods in the cluster.');
  }
  if (failure.status === 403) {
    return make('KUBERNETES_ADMISSION_DENIED', "Could not start your session: the cluster's admission policy refused its pod.");
  }
  if (failure.status === 409) {
    return make('KUBERNETES_POD_CREATE_FAILED', 'Could not start your session: its pod name is already taken.');
  }
  if (failure.status === 400 || failure.status === 422) {
    return make('KUBERNETES_POD_CREATE_FAILED', 'Could not start your session: the cluster rejected its pod settings.');
  }
  return make('KUBERNETES_POD_CREATE_FAILED', 'Could not start your session: its pod could not be created.');
}

/** The same for an exec (pods/exec) that did not start. */
export function execError(cause: unknown): GatewayError {
  const failure = describeApiFailure(cause);
  const make = (code: GatewayCode, message: string) => new GatewayError(code, message, { cause });
  if (failure.status === 401 || failure.status === 403) {
    return make('KUBERNETES_EXEC_FORBIDDEN', 'Could not start the program: the cluster does not allow running commands in your session pod.');
  }
  if (failure.transport || failure.status === 502 || failure.status === 503 || failure.status === 504) {
    return make('KUBERNETES_API_UNREACHABLE', 'Could not start the program: the Kubernetes cluster cannot be reached.');
  }
  if (failure.status === 404) {
    return make('KUBERNETES_EXEC_FAILED', 'Could not start the program: your session pod is gone.');
  }
  return make('KUBERNETES_EXEC_FAILED', 'Could not start the program in your session pod.');
}

/** An error that says the API did not answer in time (a transport failure). */
export class ApiTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(what: string, ms: number) {
    super(`${what}: no answer from the API server within ${ms} ms`);
  }
}

/**
 * Bounds one API call. client-node's request functions take no signal, so a call that outlives
 * its deadline is abandoned, not aborted: whatever it creates late carries this gateway's
 * labels and is swept by the reaper.
 */
export function withDeadline<T>(call: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ApiTimeoutError(what, ms)), ms);
  });
  return Promise.race([call, deadline]).finally(() => clearTimeout(timer));
}

export function isNotFound(cause: unknown): boolean {
  return describeApiFailure(cause).status === 404;
}
