import { createServer, type Server } from 'node:http';
import { once } from 'node:events';

/**
 * A dependency the service needs to serve; `check` rejects with why it cannot. It resolves to a
 * warning when the service still serves but an operator should act (e.g. the last good policy
 * serves because the edited one does not load): the answer stays 200, so probes keep the
 * replica in service, and the body names the warning.
 */
export interface HealthCheck {
  readonly name: string;
  // biome-ignore lint/suspicious/noConfusingVoidType: a check that resolves with nothing is healthy; `void` keeps plain `async () => {}` checks assignable.
  check(): Promise<void | { readonly warning: string }>;
}

/** Results are reused this long, so probes at any rate cost the dependencies little. */
const HEALTH_CACHE_MS = 2_000;

export interface OpsListenOptions {
  /** Where `/metrics` listens, if anywhere. */
  readonly metrics?: { host: string; port: number } | undefined;
  /** Where `/healthz` listens, if anywhere; the same address as metrics shares one listener. */
  readonly health?: { host: string; port: number } | undefined;
  /** A prom-client registry, or anything that answers like one (e.g. the sum over cluster workers). */
  readonly registry: { metrics(): Promise<string>; readonly contentType: string };
  readonly checks: readonly HealthCheck[];
  /** The `code` of the JSON 404 for any other path. */
  readonly notFoundCode: string;
}

export interface OpsListeners {
  readonly listening: { serves: string; address: string; port: number }[];
  close(): Promise<void>;
}

/**
 * Plain-HTTP listeners for operators and probes, apart from the mTLS port: `/metrics`
 * (Prometheus) and `/healthz` (200 when every dependency is fine or only warns, 503 naming those that are not).
 * They carry no credential and no user data.
 */
export async function startOpsListeners(options: OpsListenOptions): Promise<OpsListeners> {
  const wanted = new Map<string, { host: string; port: number; metrics: boolean; health: boolean }>();
  if (options.metrics) wanted.set(key(options.metrics), { ...options.metrics, metrics: true, health: false });
  if (options.health) {
    const shared = wanted.get(key(options.health));
    if (shared) shared.health = true;
    else wanted.set(key(options.health), { ...options.health, metrics: false, health: true });
  }
  const health = healthAnswer(options.checks);
  const servers = await Promise.all(
    [...wanted.values()].map(async (want) => {
      const server: Server = createServer((req, res) => {
        const path = (req.url ?? '/').split('?')[0];
        if (req.method !== 'GET') {
          res.writeHead(405, { allow: 'GET' }).end();
        } else if (path === '/metrics' && want.metrics) {
          options.registry.metrics().then(
            (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
            () => res.writeHead(500).end(),
          );
        } else if (path === '/healthz' && want.health) {
          void health().then(({ status, body }) => res.writeHead(status, { 'content-type': 'application/json' }).end(body));
        } else {
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: options.notFoundCode, message: 'Only /metrics and /healthz are served here.' }));
        }
      });
      server.listen(want.port, want.host);
      await once(server, 'listening');
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : want.port;
      const serves = [want.metrics ? 'metrics' : '', want.health ? 'health' : ''].filter(Boolean).join('+');
      return { server, info: { serves, address: want.host, port } };
    }),
  );
  return {
    listening: servers.map(({ info }) => info),
    close: async () => {
      await Promise.all(servers.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))));
    },
  };
}

function key(listen: { host: string; port: number }): string {
  return `${listen.host}:${listen.port}`;
}

function healthAnswer(checks: readonly HealthCheck[]) {
  let cached: { at: number; status: number; body: string } | undefined;
  return async () => {
    if (cached && Date.now() - cached.at < HEALTH_CACHE_MS) return cached;
    const results = await Promise.all(
      checks.map(async ({ name, check }) => {
        try {
          const result = await check();
          return result ? ([name, `warning: ${result.warning}`, 'warning'] as const) : ([name, 'ok', 'ok'] as const);
        } catch (error) {
          return [name, error instanceof Error ? error.message : String(error), 'failing'] as const;
        }
      }),
    );
    const failing = results.filter(([, , state]) => state === 'failing').map(([name]) => name);
    const warnings = results.filter(([, , state]) => state === 'warning').map(([name]) => name);
    const body = JSON.stringify({
      status: failing.length ? 'unavailable' : 'ok',
      failing,
      ...(warnings.length ? { warnings } : {}),
      checks: Object.fromEntries(results.map(([name, text]) => [name, text])),
    });
    cached = { at: Date.now(), status: failing.length ? 503 : 200, body };
    return cached;
  };
}
