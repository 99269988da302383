import { GatewayError, type GatewayCode } from '../../errors.ts';

interface EngineFailure {
  readonly statusCode?: number;
  readonly code?: string;
  readonly message?: string;
}

/**
 * Turns what dockerode threw into one line a user can act on. The engine's own error
 * body goes to the operator log as the cause, never to the SSH client.
 */
export function engineError(cause: unknown, doing: string): GatewayError {
  const failure = (cause ?? {}) as EngineFailure;
  const text = String(failure.message ?? '');
  const make = (code: GatewayCode, message: string) => new GatewayError(code, message, { cause });
  if (failure.code === 'ECONNREFUSED' || failure.code === 'ENOENT' || failure.code === 'EACCES' || failure.code === 'ETIMEDOUT' || failure.code === 'ECONNRESET') {
    return make('DOCKER_ENGINE_UNREACHABLE', 'Could not start your session: the container engine cannot be reached.');
  }
  if (failure.statusCode === 400 || failure.statusCode === 500) {
    if (/memory|cpu|pids|limit|swap/i.test(text)) {
      return make('DOCKER_CONTAINER_CONFIG_REJECTED', 'Could not start your session: the container engine rejected its resource limits.');
    }
    if (failure.statusCode === 400) {
      return make('DOCKER_CONTAINER_CONFIG_REJECTED', 'Could not start your session: the container engine rejected its settings.');
    }
  }
  if (failure.statusCode === 409) {
    return make('DOCKER_CONTAINER_CREATE_FAILED', 'Could not start your session: its container name is already taken.');
  }
  return make('DOCKER_CONTAINER_CREATE_FAILED', `Could not start your session container (${doing} failed).`);
}
