import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { startGateway, type GatewayOverrides } from '../gateway.ts';
import type { Logger } from '../observability/index.ts';
import type { GatewayConfig } from '../settings/index.ts';
import { MAX_AUTO_WORKERS } from './messages.ts';
import { runPrimary } from './primary.ts';
import { runWorker } from './worker.ts';

/** The gateway as this process runs it: a single process, the cluster primary, or one worker. */
export interface GatewayProcess {
  readonly role: 'single' | 'primary' | 'worker';
  /** Counts a fault that reached the process last resort (workers and single process only). */
  processFault(kind: 'uncaughtException' | 'unhandledRejection'): void;
  /** Stops accepting, drains open connections (all workers' in the primary), and resolves. */
  close(): Promise<void>;
}

/** Worker processes `workers` asks for on this machine. */
export function workerCount(setting: GatewayConfig['workers']): number {
  return setting === 'auto' ? Math.max(1, Math.min(availableParallelism(), MAX_AUTO_WORKERS)) : setting;
}

/**
 * Starts the gateway in the role of this process. A cluster worker re-runs the same entry
 * script, so the caller (main.ts, or a benchmark's entry) calls this in every process.
 */
export async function startGatewayProcess(config: GatewayConfig, log: Logger, overrides: Pick<GatewayOverrides, 'backend'> = {}): Promise<GatewayProcess> {
  const workers = workerCount(config.workers);
  if (workers <= 1) {
    const gateway = await startGateway(config, log, overrides);
    return { role: 'single', processFault: (kind) => gateway.metrics.processFault(kind), close: () => gateway.close() };
  }
  if (cluster.isPrimary) {
    const primary = await runPrimary(config, log.child({ worker: 0 }), workers);
    return { role: 'primary', processFault: () => undefined, close: () => primary.close() };
  }
  const gateway = await runWorker(config, log.child({ worker: cluster.worker?.id ?? -1 }), overrides);
  return { role: 'worker', processFault: (kind) => gateway.metrics.processFault(kind), close: () => gateway.close() };
}
