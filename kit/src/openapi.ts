import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';

/** Names of the zod schemas documented once under `components.schemas`, and their JSON schemas. */
export interface OpenApiComponents {
  readonly named: ReadonlyArray<readonly [string, z.ZodType]>;
  readonly schemas: Record<string, unknown>;
}

export interface OpenApiOptions {
  readonly title: string;
  readonly version: string;
  readonly description: string;
  readonly components: OpenApiComponents;
}

/** One answer of a route: its body schema and what it means. */
export interface Answer {
  readonly schema: z.ZodType;
  readonly description: string;
}

/**
 * A route's per-status response schemas as Fastify wants them (`response: { status: schema }`),
 * and what each status means for the document; spread into the route's `schema`.
 */
export function responses(answers: Record<number, Answer>): { response: Record<number, z.ZodType>; responseDescriptions: Record<number, string> } {
  const entries = Object.entries(answers);
  return {
    response: Object.fromEntries(entries.map(([status, { schema }]) => [status, schema])),
    responseDescriptions: Object.fromEntries(entries.map(([status, { description }]) => [status, description])),
  };
}

/**
 * Registers @fastify/swagger so the document is generated from the routes' own zod schemas,
 * and serves it at `GET /openapi.json`. Call before the routes are registered.
 */
export function registerOpenApi(app: FastifyInstance, options: OpenApiOptions): void {
  const names = new Map(options.components.named.map(([name, schema]) => [schema, name]));
  const toJson = (schema: z.ZodType): Record<string, unknown> => {
    const name = names.get(schema);
    if (name) return { $ref: `#/components/schemas/${name}` };
    return z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  };
  void app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: options.title, version: options.version, description: options.description },
      components: { schemas: options.components.schemas as never },
    },
    transform: ({ schema, url }) => {
      const route = (schema ?? {}) as { body?: z.ZodType; response?: Record<string, z.ZodType>; responseDescriptions?: Record<string, string> } & Record<string, unknown>;
      const { body, response, responseDescriptions = {}, ...rest } = route;
      return {
        url,
        schema: {
          ...rest,
          ...(body ? { body: toJson(body) } : {}),
          ...(response
            ? {
                response: Object.fromEntries(
                  Object.entries(response).map(([status, zod]) => [status, { description: responseDescriptions[status] ?? 'Response', content: { 'application/json': { schema: toJson(zod) } } }]),
                ),
              }
            : {}),
        },
      };
    },
  });
  void app.register(async (scoped) => {
    const schema = {
      operationId: 'openapi',
      summary: 'This document',
      ...responses({ 200: { schema: z.record(z.string(), z.unknown()), description: 'OpenAPI 3.0 document' } }),
    };
    scoped.get('/openapi.json', { schema }, async () => scoped.swagger() as unknown as Record<string, unknown>);
  });
}
