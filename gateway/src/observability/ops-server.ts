import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { Registry } from 'prom-client';

/** A dependency the gateway needs to serve; `check` rejects with why it cannot. */
export interface HealthCheck {
  readonly name: string;
  check(): Promise<void>;
}

/** Results are reused this long, so probes at any rate cost the dependencies little. */
const HEALTH_CACHE_MS = 2_000;

export interface OpsServerOptions {
  readonly host: string;
  readonly port: number;
  readonly metrics?: Registry;
  readonly health?: readonly HealthCheck[];
}

/**
 * Plain-HTTP listener for operators and probes, apart from the SSH port: `/metrics`
 * (Prometheus) and `/healthz` (200 when every dependency answers, 503 naming those that
 * do not). It carries no credential and no user data.
 */
export async function startOpsServer(options: OpsServerOptions): Promise<{ port: number; close: () => Promise<void> }> {
  let cached: { at: number; status: number; body: string } | undefined;
  const health = async () => {
    if (cached && Date.now() - cached.at < HEALTH_CACHE_MS) return cached;
    const results = await Promise.all(
      (options.health ?? []).map(async ({ name, check }) => {
        try {
          await check();
          return [name, 'ok'] as const;
        } catch (error) {
          return [name, error instanceof Error ? error.message : String(error)] as const;
        }
      }),
    );
    const failing = results.filter(([, result]) => result !== 'ok').map(([name]) => name);
    const body = JSON.stringify({ status: failing.length ? 'unavailable' : 'ok', failing, checks: Object.fromEntries(results) });
    cached = { at: Date.now(), status: failing.length ? 503 : 200, body };
    return cached;
  };

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
    } else if (path === '/metrics' && options.metrics) {
      options.metrics.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.metrics!.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else if (path === '/healthz' && options.health) {
      void health().then(({ status, body }) => res.writeHead(status, { 'content-type': 'application/json' }).end(body));
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'GATEWAY_OPS_NOT_FOUND', message: 'Only /metrics and /healthz are served here.' }));
    }
  });
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : options.port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
