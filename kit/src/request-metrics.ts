import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * prom-client's process metrics for every program. The event-loop delay is sampled every 100 ms
 * instead of every 10 ms: the idle process then wakes 10 times a second, not 100 (about 0.5 %
 * of a core each for three idle programs otherwise), and the lag percentiles keep their meaning.
 */
export const DEFAULT_METRICS_OPTIONS = { eventLoopMonitoringPrecision: 100 } as const;

const SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The webhook service's own request metrics. Labels are bounded: the route template (never the
 * raw URL, so scanners cannot mint new series), the method and the status code.
 */
export class RequestMetrics {
  readonly registry = new Registry();

  private readonly requests = new Counter({
    name: 'portcullis_webhook_requests_total',
    help: 'HTTP requests answered, by route template, method and status code.',
    labelNames: ['route', 'method', 'status'],
    registers: [this.registry],
  });
  private readonly seconds = new Histogram({
    name: 'portcullis_webhook_request_duration_seconds',
    help: 'Time from request to response, by route template and method.',
    labelNames: ['route', 'method'],
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });

  private readonly tlsFailures = new Counter({
    name: 'portcullis_webhook_tls_handshake_failures_total',
    help: 'Connections refused during the TLS handshake (no, expired or foreign client certificate, or not TLS at all).',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, ...DEFAULT_METRICS_OPTIONS });
  }

  /** Counts every answered request of `app`, and every client refused during the TLS handshake. */
  instrument(app: FastifyInstance): void {
    app.server.on('tlsClientError', () => this.tlsFailures.inc());
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      const method = KNOWN_METHODS.has(request.method) ? request.method : 'OTHER';
      this.requests.inc({ route, method, status: String(reply.statusCode) });
      this.seconds.observe({ route, method }, reply.elapsedTime / 1000);
    });
  }
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
