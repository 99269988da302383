import type { AppConfig } from '@portcullis/wire';
import { GatewayError } from '../errors.ts';
import type { Backend, BackendConnection, BackendSession, ConnectionRequest, SessionProgram } from './backend.ts';

/** How many containers (or pods) a connection of this config starts: one per connection, one per session, or none. */
function containerMode(config: AppConfig): 'connection' | 'session' | undefined {
  const mode = config.backend === 'docker' ? config.docker?.execution.mode : config.backend === 'kubernetes' ? (config.kubernetes?.pod.mode ?? 'connection') : undefined;
  return mode === 'connection' || mode === 'session' ? mode : undefined;
}

/** Where containers per user are counted: this process, or the cluster primary for every worker. */
export interface ContainerSlots {
  /** Takes one slot for `user` and returns its release, or throws SECURITY_MAX_CONTAINERS_PER_USER. */
  take(user: string): (() => void) | Promise<() => void>;
}

/** The counter that owns the numbers (`ssh.maxContainersPerUser`). */
export class UserContainerSlots implements ContainerSlots {
  private readonly held = new Map<string, number>();

  constructor(private readonly maxPerUser: number) {}

  take(user: string): () => void {
    const count = this.held.get(user) ?? 0;
    if (count >= this.maxPerUser) {
      throw new GatewayError('SECURITY_MAX_CONTAINERS_PER_USER', `Session refused: you already hold as many containers as allowed (${this.maxPerUser}).`);
    }
    this.held.set(user, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.held.get(user) ?? 1) - 1;
      if (left <= 0) this.held.delete(user);
      else this.held.set(user, left);
    };
  }
}

/**
 * Containers and pods a user holds at once on this instance (`ssh.maxContainersPerUser`),
 * whatever the mode: one per connection, or one per session channel, where 20 connections of
 * 10 sessions would otherwise start 200. A persistent container is shared and not counted.
 */
export class UserContainerBudget implements Backend {
  readonly name: string;
  private readonly slots: ContainerSlots;

  constructor(
    private readonly inner: Backend,
    slots: number | ContainerSlots,
  ) {
    this.name = inner.name;
    this.slots = typeof slots === 'number' ? new UserContainerSlots(slots) : slots;
  }

  supports(backend: string): boolean {
    return this.inner.supports ? this.inner.supports(backend) : true;
  }

  async openConnection(request: ConnectionRequest): Promise<BackendConnection> {
    const mode = containerMode(request.config);
    const user = request.authenticatedUsername;
    const forConnection = mode === 'connection' ? await this.slots.take(user) : undefined;
    let connection: BackendConnection;
    try {
      connection = await this.inner.openConnection(request);
    } catch (error) {
      forConnection?.();
      throw error;
    }
    // Sessions of a session-mode connection each hold a slot until they exit, are destroyed, or the connection closes.
    const sessionSlots = new Set<() => void>();
    const close = async () => {
      try {
        await connection.close();
      } finally {
        forConnection?.();
        for (const release of sessionSlots) release();
      }
    };
    const startSession = async (program: SessionProgram): Promise<BackendSession> => {
      const taken = await this.slots.take(user);
      const release = () => {
        sessionSlots.delete(release);
        taken();
      };
      sessionSlots.add(release);
      try {
        const session = await connection.startSession(program);
        void session.exited.then(release, release);
        return overriding(session, { destroy: () => (release(), session.destroy()) });
      } catch (error) {
        release();
        throw error;
      }
    };
    return overriding(connection, mode === 'session' ? { close, startSession } : { close });
  }
}

/**
 * `target` with some members replaced; every other member (including ones added later) is
 * the target's own, called on the target, so no state is split between wrapper and target.
 */
function overriding<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(object, property) {
      if (Object.hasOwn(overrides, property)) return (overrides as Record<PropertyKey, unknown>)[property];
      const value: unknown = Reflect.get(object, property, object);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(object) : value;
    },
  });
}
