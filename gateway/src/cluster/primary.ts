import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { startOpsListeners, type HealthCheck } from '@portcullis/kit';
import { AuditService } from '../audit/index.ts';
import { UserContainerSlots } from '../backends/index.ts';
import { GatewayError, isGatewayError } from '../errors.ts';
import { gatewayCheckNames, hostPort } from '../gateway.ts';
import { LocalSourceAdmission, loadHostKeys, trustedProxyCheck, type AdmissionTicket } from '../listener/index.ts';
import { RefusalLog } from '../listener/refusal-log.ts';
import type { Logger } from '../observability/index.ts';
import { UserConnections } from '../session/index.ts';
import type { GatewayConfig } from '../settings/index.ts';
import { WorkerBatchSchema, type PrimaryMessage, type RefusalCode, type WorkerMessage } from './messages.ts';

/** A worker that dies sooner than this after its start counts as a crash loop: restarts back off. */
const STABLE_AFTER_MS = 10_000;
const MAX_RESTART_DELAY_MS = 10_000;
/** How long the primary waits for a worker's answer to a health probe. */
const HEALTH_TIMEOUT_MS = 5_000;

interface WorkerEntry {
  readonly worker: Worker;
  readonly startedAt: number;
  ready: boolean;
  instanceId?: string;
  /** Admitted connections it holds (startup slot and penalty source), by ticket. */
  readonly tickets: Map<number, AdmissionTicket>;
  /** Per-user connection and container slots it holds. */
  readonly slots: Map<number, () => void>;
}

export interface RunningPrimary {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The cluster primary: the one SSH listener, the one set of pre-auth and per-user counters,
 * the ops listener (metrics summed over workers, health), and the workers' supervisor. It
 * parses no SSH: each admitted socket goes to the worker holding the fewest connections.
 */
export async function runPrimary(config: GatewayConfig, log: Logger, workerCount: number): Promise<RunningPrimary> {
  // Created before any worker starts, so every worker loads the same host key set.
  await loadHostKeys(config.ssh.hostKeyDir, log);
  // Recovery of interrupted recordings and the recording player: once, here.
  const audit = await AuditService.start(config.audit, log);
  const admission = new LocalSourceAdmission({
    maxStartups: { ...config.ssh.maxStartups, perSource: config.ssh.perSourceMaxStartups },
    sourceBlockBits: config.ssh.perSourceNetBlockSize,
    ...(config.ssh.perSourcePenalties.enabled ? { penalties: config.ssh.perSourcePenalties } : {}),
    log,
  });
  const userConnections = new UserConnections(config.ssh.maxConnections);
  const userContainers = new UserContainerSlots(config.ssh.maxContainersPerUser);
  const refusals = new RefusalLog(log);
  const registry = new Registry();
  const workersUp = new Gauge({ name: 'portcullis_gateway_workers', help: 'Gateway worker processes taking connections.', registers: [registry] });
  const workerExits = new Counter({ name: 'portcullis_gateway_worker_exits_total', help: 'Gateway worker processes that exited unasked (and were replaced).', registers: [registry] });
  const aggregator = new AggregatorRegistry();

  const entries = new Map<number, WorkerEntry>();
  let nextId = 1;
  let stopping = false;
  let fastExits = 0;
  const healthWaiters = new Map<number, (results: Extract<WorkerMessage, { t: 'health' }>['results']) => void>();
  let started = false;
  let firstReady!: () => void;
  let startFailed!: (error: Error) => void;
  const allReady = new Promise<void>((resolve, reject) => {
    firstReady = resolve;
    startFailed = reject;
  });

  const send = (entry: WorkerEntry, message: PrimaryMessage, socket?: Socket) =>
    new Promise<boolean>((resolve) => {
      if (!entry.worker.isConnected()) return resolve(false);
      entry.worker.send(message, socket as never, (error: Error | null) => resolve(!error));
    });

  const onBatch = (entry: WorkerEntry, raw: unknown) => {
    if (typeof raw === 'object' && raw !== null && 'type' in raw) return; // prom-client's metrics answers
    const parsed = WorkerBatchSchema.safeParse(raw);
    if (!parsed.success) return refusals.warn('GATEWAY_WORKER_MESSAGE_INVALID', { workerId: entry.worker.id }, 'a worker sent a message the primary does not accept');
    for (const message of parsed.data) onMessage(entry, message);
  };

  const onMessage = (entry: WorkerEntry, message: WorkerMessage) => {
    const id = nextId++;
    switch (message.t) {
      case 'ready':
        entry.ready = true;
        entry.instanceId = message.instanceId;
        workersUp.set([...entries.values()].filter((each) => each.ready).length);
        log.info({ code: 'GATEWAY_WORKER_STARTED', workerId: entry.worker.id, pid: entry.worker.process.pid, instanceId: message.instanceId }, 'gateway worker taking connections');
        if ([...entries.values()].filter((each) => each.ready).length >= workerCount) firstReady();
        return;
      case 'admit': {
        const verdict = admission.admit(message.address);
        if (verdict.admitted) entry.tickets.set(id, verdict.ticket);
        return void send(
          entry,
          verdict.admitted
            ? { t: 'admitted', req: message.req, ticket: id, delayMs: verdict.delayMs, passwordsRefusedMs: verdict.ticket.passwordsRefusedMs }
            : { t: 'admitted', req: message.req, delayMs: 0, passwordsRefusedMs: 0 },
        );
      }
      case 'logged-in':
        return entry.tickets.get(message.ticket)?.loggedIn();
      case 'closed':
        entry.tickets.get(message.ticket)?.closed(message.penalty);
        return void entry.tickets.delete(message.ticket);
      case 'take-connection': {
        // The policy's limit may only lower the gateway's ceiling, whatever a worker says.
        const limit = Math.min(message.limit ?? config.ssh.maxConnectionsPerUser, config.ssh.maxConnectionsPerUser);
        const slot = userConnections.take(message.username, limit);
        if (slot.taken) entry.slots.set(id, slot.release);
        return void send(
          entry,
          slot.taken ? { t: 'slot', req: message.req, slot: id } : { t: 'slot', req: message.req, refusal: { code: slot.refusal.code as RefusalCode, message: slot.refusal.userMessage } },
        );
      }
      case 'take-container':
        try {
          entry.slots.set(id, userContainers.take(message.username));
          return void send(entry, { t: 'slot', req: message.req, slot: id });
        } catch (error) {
          const message_ = isGatewayError(error) ? error.userMessage : 'Session refused: you already hold as many containers as allowed.';
          return void send(entry, { t: 'slot', req: message.req, refusal: { code: 'SECURITY_MAX_CONTAINERS_PER_USER', message: message_ } });
        }
      case 'release-slot':
        entry.slots.get(message.slot)?.();
        return void entry.slots.delete(message.slot);
      case 'health':
        healthWaiters.get(message.req)?.(message.results);
        return void healthWaiters.delete(message.req);
    }
  };

  const fork = () => {
    const worker = cluster.fork();
    const entry: WorkerEntry = { worker, startedAt: Date.now(), ready: false, tickets: new Map(), slots: new Map() };
    entries.set(worker.id, entry);
    worker.on('message', (raw: unknown) => onBatch(entry, raw));
  };

  cluster.on('exit', (worker, exitCode, signal) => {
    const entry = entries.get(worker.id);
    if (!entry) return;
    entries.delete(worker.id);
    // Its connections died with it: their slots are free again, and no client is penalised for it.
    for (const ticket of entry.tickets.values()) ticket.closed();
    for (const release of entry.slots.values()) release();
    workersUp.set([...entries.values()].filter((each) => each.ready).length);
    if (stopping) return log.info({ code: 'GATEWAY_WORKER_STOPPED', workerId: worker.id, exitCode }, 'gateway worker stopped');
    if (!started) {
      // A worker that cannot start names why in its own log; restarting it would loop.
      stopping = true;
      for (const other of entries.values()) other.worker.kill();
      return startFailed(new GatewayError('GATEWAY_START_FAILED', `A gateway worker exited during start (exit code ${exitCode ?? signal}); see its log line.`));
    }
    workerExits.inc();
    const uptime = Date.now() - entry.startedAt;
    fastExits = uptime < STABLE_AFTER_MS ? fastExits + 1 : 0;
    const delayMs = fastExits === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 250 * 2 ** (fastExits - 1));
    log.error(
      { code: 'GATEWAY_WORKER_EXITED', workerId: worker.id, pid: worker.process.pid, exitCode, signal, connections: entry.tickets.size, restartInMs: delayMs },
      'gateway worker exited; its connections ended, a new worker replaces it',
    );
    setTimeout(() => stopping || fork(), delayMs).unref();
  });

  for (let i = 0; i < workerCount; i += 1) fork();
  await allReady;
  started = true;

  /** The ready worker holding the fewest connections. */
  const pick = (): WorkerEntry | undefined => {
    let best: WorkerEntry | undefined;
    for (const entry of entries.values()) if (entry.ready && entry.worker.isConnected() && (!best || entry.tickets.size < best.tickets.size)) best = entry;
    return best;
  };

  const proxyProtocol = config.ssh.proxyProtocol;
  const fromTrustedProxy = proxyProtocol && trustedProxyCheck({ trustedProxies: proxyProtocol.trustedProxies, log });
  const accept = (socket: Socket) => {
    socket.on('error', () => undefined);
    // An untrusted peer costs no worker anything.
    if (fromTrustedProxy && !fromTrustedProxy(socket)) return;
    const entry = pick();
    if (!entry) {
      refusals.warn('GATEWAY_NO_WORKER', {}, 'connection dropped: no gateway worker is taking connections');
      return void socket.destroy();
    }
    if (proxyProtocol) {
      // The source is in the PROXY header the worker reads; it asks for admission then.
      return void send(entry, { t: 'proxied-connection' }, socket).then((sent) => sent || socket.destroy());
    }
    const verdict = admission.admit(socket.remoteAddress ?? '');
    if (!verdict.admitted) return void socket.destroy();
    const ticket = nextId++;
    entry.tickets.set(ticket, verdict.ticket);
    void send(entry, { t: 'connection', ticket, delayMs: verdict.delayMs, passwordsRefusedMs: verdict.ticket.passwordsRefusedMs }, socket).then((sent) => {
      if (sent) return;
      entry.tickets.delete(ticket);
      verdict.ticket.closed();
      socket.destroy();
    });
  };

  const { host, port } = hostPort(config.ssh.listen);
  // Paused: not a byte is read here, so none is lost when the socket moves to a worker.
  const tcp = createServer({ pauseOnConnect: true }, accept);
  tcp.listen(port, host);
  await once(tcp, 'listening');
  const address = tcp.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  log.info({ code: 'SSH_AVAILABLE', port: boundPort, address: host, workers: workerCount, instanceIds: [...entries.values()].map((entry) => entry.instanceId) }, 'SSH listener up');

  let nextHealth = 0;
  let inFlight: Promise<Map<string, { error?: string; warning?: string }>> | undefined;
  /** One probe of one worker answers every named check (the kit caches the answer briefly). */
  const probe = () =>
    (inFlight ??= (async () => {
      const entry = pick();
      if (!entry) throw new Error('no gateway worker is taking connections');
      const req = nextHealth++;
      const results = await new Promise<Extract<WorkerMessage, { t: 'health' }>['results']>((resolve, reject) => {
        const timer = setTimeout(() => {
          healthWaiters.delete(req);
          reject(new Error(`gateway worker ${entry.worker.id} did not answer the health probe`));
        }, HEALTH_TIMEOUT_MS);
        healthWaiters.set(req, (answer) => {
          clearTimeout(timer);
          resolve(answer);
        });
        void send(entry, { t: 'check-health', req });
      });
      return new Map(results.map(({ name, ...rest }) => [name, rest]));
    })().finally(() => (inFlight = undefined)));
  const checks: HealthCheck[] = [
    {
      name: 'workers',
      check: async () => {
        const ready = [...entries.values()].filter((entry) => entry.ready).length;
        if (ready === 0) throw new Error('no gateway worker is taking connections');
        if (ready < workerCount) return { warning: `${ready} of ${workerCount} gateway workers are taking connections` };
        return undefined;
      },
    },
    ...gatewayCheckNames(config).map((name) => ({
      name,
      check: async () => {
        const result = (await probe()).get(name);
        if (!result) throw new Error(`the worker did not report ${name}`);
        if (result.error) throw new Error(result.error);
        return result.warning ? { warning: result.warning } : undefined;
      },
    })),
  ];
  const ops = await startOpsListeners({
    metrics: config.metrics && hostPort(config.metrics.listen),
    health: config.health && hostPort(config.health.listen),
    registry: {
      contentType: aggregator.contentType,
      // Every worker's metrics summed (prom-client's cluster aggregation), then the primary's own.
      metrics: async () => `${await aggregator.clusterMetrics()}\n${await registry.metrics()}`,
    },
    checks,
    notFoundCode: 'GATEWAY_OPS_NOT_FOUND',
  });
  for (const listening of ops.listening) log.info({ code: 'GATEWAY_OPS_LISTENING', ...listening }, `${listening.serves} listener up`);

  return {
    port: boundPort,
    close: async () => {
      stopping = true;
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      // Each worker ends its connections (and with them their containers), then exits.
      const exits = [...entries.values()].map(async (entry) => {
        if (entry.worker.isDead()) return;
        const exited = once(entry.worker, 'exit');
        if (!(await send(entry, { t: 'shutdown' }))) entry.worker.kill();
        await exited;
      });
      await Promise.all([closed, ...exits]);
      await ops.close();
      await audit.close();
    },
  };
}
