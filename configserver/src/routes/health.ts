import type { FastifyInstance } from 'fastify';

export function healthRoute(app: FastifyInstance): void {
  app.get('/healthz', async () => ({ status: 'ok' as const }));
}
