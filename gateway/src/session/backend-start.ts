import type { Backend, BackendConnection, ConnectionRequest } from '../backends/index.ts';
import { isGatewayError } from '../errors.ts';
import { errorFields, secondsSince, type GatewayMetrics, type Logger } from '../observability/index.ts';

/**
 * Opens the connection's backend (container, pod, upstream server) with its metric and, on
 * failure, one log line under the backend's own code, or BACKEND_START_FAILED when it gave none:
 * the gateway cannot tell what a Kubernetes or proxy failure was, so it names no backend.
 */
export function startBackend(backend: Backend, request: ConnectionRequest, log: Logger, metrics: GatewayMetrics | undefined): Promise<BackendConnection> {
  const started = performance.now();
  const backendName = request.config.backend;
  const connection = backend.openConnection(request);
  connection.then(
    () => metrics?.backendStart(backendName, true, secondsSince(started)),
    (error: unknown) => {
      metrics?.backendStart(backendName, false, secondsSince(started), isGatewayError(error) ? error.code : undefined);
      // A client that left is not a backend failure worth an error line.
      const level = request.signal?.aborted ? 'info' : 'error';
      log[level]({ code: isGatewayError(error) ? error.code : 'BACKEND_START_FAILED', ...errorFields(error) }, 'backend not ready');
    },
  );
  return connection;
}
