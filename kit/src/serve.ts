import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { startOpsListeners, type HealthCheck } from './ops-server.ts';
import type { RequestMetrics } from './request-metrics.ts';

export interface ServeOptions {
  readonly app: FastifyInstance;
  readonly program: string;
  readonly listen: { host: string; port: number };
  readonly ops: { metrics?: { host: string; port: number } | undefined; health?: { host: string; port: number } | undefined };
  readonly metrics: RequestMetrics;
  readonly checks: readonly HealthCheck[];
  readonly logger: Logger;
  /** The program's codes for these lines; `notFound` is the ops listener's 404 body code. */
  readonly codes: { listening: string; opsListening: string; stopping: string; notFound: string };
  /** More fields for the listening line (e.g. how many users serve). */
  readonly listeningFields?: Record<string, unknown>;
  /** Called on SIGTERM or SIGINT before the listeners close. */
  readonly onStop?: () => void;
}

/**
 * Listens on the mTLS port and the ops listeners, logs where, and closes them all on SIGTERM or
 * SIGINT (exit code 0 when they closed cleanly).
 */
export async function serveWebhook(options: ServeOptions): Promise<void> {
  const { app, logger, codes } = options;
  await app.listen({ host: options.listen.host, port: options.listen.port });
  const address = app.server.address() as AddressInfo;
  logger.info({ code: codes.listening, address: address.address, port: address.port, ...options.listeningFields }, `${options.program} listening`);
  const ops = await startOpsListeners({
    metrics: options.ops.metrics,
    health: options.ops.health,
    registry: options.metrics.registry,
    checks: options.checks,
    notFoundCode: codes.notFound,
  });
  for (const { serves, address: host, port } of ops.listening) logger.info({ code: codes.opsListening, serves, address: host, port }, `${serves} listener up`);

  const stop = (signal: string) => {
    logger.info({ code: codes.stopping, signal }, `${options.program} stopping`);
    options.onStop?.();
    Promise.all([app.close(), ops.close()]).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

/** Runs a command-line `main`: its number is the exit code; a throw is logged by `fatal` and exits 1. */
export function runMain(main: (argv: string[]) => Promise<number>, fatal: (err: unknown) => void): void {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code !== 0) process.exitCode = code;
    },
    (err: unknown) => {
      fatal(err);
      process.exitCode = 1;
    },
  );
}
