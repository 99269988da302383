import { GatewayError } from '../errors.ts';
import type { Backend, BackendConnection, ConnectionRequest } from './backend.ts';

/** Sends each connection to the backend its configuration names. */
export class BackendRouter implements Backend {
  readonly name = 'router';
  private readonly byName: ReadonlyMap<string, Backend>;

  constructor(backends: Backend[]) {
    this.byName = new Map(backends.map((backend) => [backend.name, backend]));
  }

  supports(backend: string): boolean {
    return this.byName.has(backend);
  }

  openConnection(request: ConnectionRequest): Promise<BackendConnection> {
    const backend = this.byName.get(request.config.backend);
    if (!backend) {
      return Promise.reject(new GatewayError('CONFIG_UNSUPPORTED', `Session refused: this gateway has no ${request.config.backend} backend.`));
    }
    return backend.openConnection(request);
  }
}
