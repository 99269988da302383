import { AggregatorRegistry } from 'prom-client';
import type { Socket } from 'node:net';
import { GatewayError } from '../errors.ts';
import { startGateway, type GatewayOverrides, type WorkerGateway, type WorkerShares } from '../gateway.ts';
import type { AdmissionTicket, AdmissionVerdict } from '../listener/index.ts';
import type { Logger } from '../observability/index.ts';
import type { ConnectionSlot } from '../session/index.ts';
import type { GatewayConfig } from '../settings/index.ts';
import { PrimaryMessageSchema, type PrimaryMessage, type WorkerMessage } from './messages.ts';

/** An answer the primary owes longer than this is treated as lost: the login or connection fails closed. */
const ANSWER_TIMEOUT_MS = 10_000;

type Answer = Extract<PrimaryMessage, { req: number }>;

/**
 * The worker's side of the cluster: sockets arrive from the primary, and every limit that
 * must hold for the whole gateway (source checks, per-user connections and containers) is
 * asked of the primary, so N workers never grant N times a limit.
 */
class PrimaryLink implements WorkerShares {
  private nextReq = 0;
  private readonly waiting = new Map<number, { resolve: (answer: Answer) => void; timer: NodeJS.Timeout }>();

  constructor(private readonly send: (message: WorkerMessage) => void) {}

  /** Delivers an answer from the primary to whoever asked. */
  answer(message: Answer): void {
    const entry = this.waiting.get(message.req);
    if (!entry) {
      // Too late: the asker already failed closed, so what the primary granted goes back.
      if (message.t === 'slot' && message.slot !== undefined) this.send({ t: 'release-slot', slot: message.slot });
      if (message.t === 'admitted' && message.ticket !== undefined) this.send({ t: 'closed', ticket: message.ticket });
      return;
    }
    this.waiting.delete(message.req);
    clearTimeout(entry.timer);
    entry.resolve(message);
  }

  private ask(build: (req: number) => WorkerMessage): Promise<Answer> {
    const req = this.nextReq++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(req);
        reject(new GatewayError('GATEWAY_WORKER_UNANSWERED', 'Login refused: the gateway is restarting; try again.'));
      }, ANSWER_TIMEOUT_MS);
      this.waiting.set(req, { resolve, timer });
      this.send(build(req));
    });
  }

  ticket(id: number, passwordsRefusedMs = 0): AdmissionTicket {
    let closed = false;
    return {
      passwordsRefusedMs,
      loggedIn: () => void (closed || this.send({ t: 'logged-in', ticket: id })),
      closed: (penalty) => {
        if (closed) return;
        closed = true;
        this.send({ t: 'closed', ticket: id, ...(penalty ? { penalty } : {}) });
      },
    };
  }

  readonly admission = {
    admit: async (address: string): Promise<AdmissionVerdict> => {
      const answer = await this.ask((req) => ({ t: 'admit', req, address: address.slice(0, 64) }));
      if (answer.t !== 'admitted' || answer.ticket === undefined) return { admitted: false };
      return { admitted: true, delayMs: answer.delayMs, ticket: this.ticket(answer.ticket, answer.passwordsRefusedMs) };
    },
  };

  readonly connections = {
    take: async (username: string, limit: number | undefined): Promise<ConnectionSlot> => {
      const answer = await this.ask((req) => ({ t: 'take-connection', req, username, ...(limit !== undefined ? { limit } : {}) }));
      if (answer.t !== 'slot' || answer.slot === undefined) {
        const refusal = answer.t === 'slot' ? answer.refusal : undefined;
        return { taken: false, refusal: new GatewayError(refusal?.code ?? 'SECURITY_MAX_CONNECTIONS', refusal?.message ?? 'Login refused: this gateway is at its connection limit; try again later.') };
      }
      return { taken: true, release: this.releaser(answer.slot) };
    },
  };

  readonly containers = {
    take: async (user: string): Promise<() => void> => {
      const answer = await this.ask((req) => ({ t: 'take-container', req, username: user }));
      if (answer.t === 'slot' && answer.slot !== undefined) return this.releaser(answer.slot);
      const refusal = answer.t === 'slot' ? answer.refusal : undefined;
      throw new GatewayError(refusal?.code ?? 'SECURITY_MAX_CONTAINERS_PER_USER', refusal?.message ?? 'Session refused: you already hold as many containers as allowed.');
    },
  };

  private releaser(slot: number): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.send({ t: 'release-slot', slot });
    };
  }
}

/** Runs the gateway as one cluster worker; resolves once it takes connections. */
export async function runWorker(config: GatewayConfig, log: Logger, overrides: Pick<GatewayOverrides, 'backend'> = {}): Promise<WorkerGateway> {
  // Messages of one event-loop turn go out together, as one write on the IPC channel.
  let queued: WorkerMessage[] = [];
  const flush = () => {
    const batch = queued;
    queued = [];
    // The channel is gone only when the primary is: the worker ends with it (node:cluster).
    if (process.connected) process.send?.(batch);
  };
  const send = (message: WorkerMessage) => {
    if (queued.push(message) === 1) setImmediate(flush);
  };
  const link = new PrimaryLink(send);
  // Buffered until the gateway is up; the primary sends no connection before `ready`.
  let gateway: WorkerGateway | undefined;
  process.on('message', (raw: unknown, handle: unknown) => {
    const parsed = PrimaryMessageSchema.safeParse(raw);
    if (!parsed.success) return; // prom-client's metrics requests, answered by AggregatorRegistry
    const message = parsed.data;
    const socket = handle as Socket | undefined;
    switch (message.t) {
      case 'connection':
        if (!socket || !gateway) {
          socket?.destroy();
          return link.ticket(message.ticket).closed();
        }
        return gateway.serveAdmitted(socket, link.ticket(message.ticket, message.passwordsRefusedMs), message.delayMs);
      case 'proxied-connection':
        if (!socket || !gateway) return void socket?.destroy();
        return gateway.acceptProxied(socket);
      case 'check-health':
        return void runChecks(gateway).then((results) => send({ t: 'health', req: message.req, results }));
      case 'shutdown':
        return void (gateway?.close() ?? Promise.resolve()).then(() => process.exit(0));
      default:
        return link.answer(message);
    }
  });
  gateway = await startGateway(config, log, { ...overrides, worker: link });
  // The primary's /metrics asks each worker for these and sums them; prom-client answers its
  // requests only once an AggregatorRegistry was made in the worker too.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([gateway.metrics.registry]);
  send({ t: 'ready', instanceId: gateway.instanceId });
  return gateway;
}

async function runChecks(gateway: WorkerGateway | undefined): Promise<{ name: string; error?: string; warning?: string }[]> {
  if (!gateway) return [{ name: 'worker', error: 'the worker is still starting' }];
  return Promise.all(
    gateway.checks.map(async ({ name, check }) => {
      try {
        const result = await check();
        return result ? { name, warning: result.warning.slice(0, 1024) } : { name };
      } catch (error) {
        return { name, error: (error instanceof Error ? error.message : String(error)).slice(0, 1024) };
      }
    }),
  );
}
