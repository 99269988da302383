import { z } from 'zod';
import { AuthorizationRequestSchema, AuthResponseSchema, CaCertificateSchema, PasswordRequestSchema, PublicKeyRequestSchema } from './auth.ts';
import { ConfigRequestSchema, ConfigResponseSchema, WireAppConfigSchema } from './config.ts';
import { ErrorResponseSchema } from './errors.ts';
import { FileValueSchema, MetadataValueSchema } from './metadata.ts';
import { KeyboardInteractiveRequestSchema, KeyboardInteractiveResponseSchema } from './keyboard-interactive.ts';

/**
 * The OpenAPI documents both services serve at `GET /openapi.json`, generated from the very
 * zod schemas the routes validate with. Component names follow ContainerSSH's document
 * (containerssh-authconfig.json) so the two can be compared name by name.
 */
export type WireService = 'authserver' | 'configserver';

/** Named components; every other schema is inlined where it is used. */
const COMPONENTS: ReadonlyArray<readonly [string, z.ZodType]> = [
  ['PasswordAuthRequest', PasswordRequestSchema],
  ['PublicKeyAuthRequest', PublicKeyRequestSchema],
  ['AuthorizationRequest', AuthorizationRequestSchema],
  ['AuthResponseBody', AuthResponseSchema],
  ['ConfigRequest', ConfigRequestSchema],
  ['ConfigResponseBody', ConfigResponseSchema],
  ['AppConfig', WireAppConfigSchema],
  ['MetadataValue', MetadataValueSchema],
  ['BinaryMetadataValue', FileValueSchema],
  ['CaCertificate', CaCertificateSchema],
  ['ErrorResponse', ErrorResponseSchema],
  ['KeyboardInteractiveRequest', KeyboardInteractiveRequestSchema],
  ['KeyboardInteractiveResponse', KeyboardInteractiveResponseSchema],
];

interface Operation {
  readonly operationId: string;
  readonly summary: string;
  readonly request: string;
  readonly response: string;
  readonly answer: string;
}

const AUTH_ANSWER = 'The decision: a refused login is 200 with success false.';

const OPERATIONS: Record<WireService, Record<string, Operation>> = {
  authserver: {
    '/password': { operationId: 'authPassword', summary: 'Password authentication', request: 'PasswordAuthRequest', response: 'AuthResponseBody', answer: AUTH_ANSWER },
    '/pubkey': { operationId: 'authPubKey', summary: 'Public key authentication', request: 'PublicKeyAuthRequest', response: 'AuthResponseBody', answer: AUTH_ANSWER },
    '/authz': { operationId: 'authz', summary: 'Authorization', request: 'AuthorizationRequest', response: 'AuthResponseBody', answer: AUTH_ANSWER },
    '/keyboard-interactive': {
      operationId: 'authKeyboardInteractive',
      summary: 'Keyboard-interactive conversation step (Portcullis extension)',
      request: 'KeyboardInteractiveRequest',
      response: 'KeyboardInteractiveResponse',
      answer: 'The next step (challenge) or the decision (success), never both.',
    },
  },
  configserver: {
    '/config': {
      operationId: 'getUserConfiguration',
      summary: 'Fetches the configuration for a user/session',
      request: 'ConfigRequest',
      response: 'ConfigResponseBody',
      answer: 'The session configuration, environment, files and metadata.',
    },
  },
};

/** Statuses every webhook route may answer besides 200, all with an ErrorResponse body. */
const ERROR_STATUSES: Record<string, string> = {
  '400': 'The body is not JSON or fails the schema; `code` is stable, `message` names the field.',
  '403': 'The client certificate is valid but not allowed.',
  '413': 'The body is too large.',
  '415': 'The body is not application/json.',
  '500': 'The service failed; the gateway treats this as "unavailable", never as "denied".',
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });

function componentSchemas(): Record<string, unknown> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of COMPONENTS) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    target: 'openapi-3.0',
    // Request bodies as a client writes them: defaulted fields are optional.
    io: 'input',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  });
  // `$id` is JSON Schema, not OpenAPI: components are addressed by their key.
  return Object.fromEntries(Object.entries(schemas).map(([id, schema]) => [id, withoutIds(schema)]));
}

function withoutIds(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutIds);
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema as Record<string, unknown>).filter(([key]) => key !== '$id').map(([key, value]) => [key, withoutIds(value)]),
  );
}

/** The OpenAPI 3.0 document of one service: its webhook routes plus /healthz and /openapi.json. */
export function openApiDocument(service: WireService): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const [path, op] of Object.entries(OPERATIONS[service])) {
    paths[path] = {
      post: {
        operationId: op.operationId,
        summary: op.summary,
        requestBody: { required: true, ...json(ref(op.request)) },
        responses: {
          '200': { description: op.answer, ...json(ref(op.response)) },
          ...Object.fromEntries(
            Object.entries(ERROR_STATUSES).map(([status, description]) => [status, { description, ...json(ref('ErrorResponse')) }]),
          ),
        },
      },
    };
  }
  paths['/healthz'] = {
    get: {
      operationId: 'health',
      summary: 'Liveness',
      responses: { '200': { description: 'Up', ...json({ type: 'object', properties: { status: { type: 'string', enum: ['ok'] } }, required: ['status'] }) } },
    },
  };
  paths['/openapi.json'] = {
    get: { operationId: 'openapi', summary: 'This document', responses: { '200': { description: 'OpenAPI 3.0 document', ...json({ type: 'object' }) } } },
  };
  return {
    openapi: '3.0.3',
    info: {
      title: service === 'authserver' ? 'Portcullis authserver' : 'Portcullis configserver',
      version: '0.1.0',
      description:
        "ContainerSSH-compatible webhook API (generated from @portcullis/wire's zod schemas). " +
        'Deliberate differences from ContainerSSH 0.5 are listed in the service README.',
    },
    paths,
    components: { schemas: componentSchemas() },
  };
}
