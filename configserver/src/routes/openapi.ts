import type { FastifyInstance } from 'fastify';
import { openApiDocument } from '@portcullis/wire';

/** GET /openapi.json: generated once from the wire package's zod schemas, the ones the routes validate with. */
export function openApiRoute(app: FastifyInstance): void {
  const document = openApiDocument('configserver');
  app.get('/openapi.json', async () => document);
}
