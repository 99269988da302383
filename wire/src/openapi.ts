import { z } from 'zod';
import { AuthorizationRequestSchema, AuthResponseSchema, CaCertificateSchema, PasswordRequestSchema, PublicKeyRequestSchema } from './auth.ts';
import { ConfigRequestSchema, ConfigResponseSchema, WireAppConfigSchema } from './config.ts';
import { ErrorResponseSchema } from './errors.ts';
import { FileValueSchema, MetadataValueSchema } from './metadata.ts';
import { KeyboardInteractiveRequestSchema, KeyboardInteractiveResponseSchema } from './keyboard-interactive.ts';

/**
 * The named components of the OpenAPI documents both services generate from their routes
 * (kit/src/openapi.ts). Component names follow ContainerSSH's document
 * (containerssh-authconfig.json) so the two can be compared name by name.
 */

/** Named components; a route schema listed here is a `$ref`, every other schema is inlined where it is used. */
export const WIRE_COMPONENTS: ReadonlyArray<readonly [string, z.ZodType]> = [
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

/** The named components as OpenAPI 3.0 schemas, each `$ref`ing the others by name. */
export function wireComponentSchemas(): Record<string, unknown> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of WIRE_COMPONENTS) registry.add(schema, { id });
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
    Object.entries(schema as Record<string, unknown>)
      .filter(([key]) => key !== '$id')
      .map(([key, value]) => [key, withoutIds(value)]),
  );
}

/** The header of both services' documents and their named components (for kit's registerOpenApi). */
export function wireOpenApi(title: string) {
  return {
    title,
    version: '0.1.0',
    description: "ContainerSSH-compatible webhook API (generated from the routes' @portcullis/wire zod schemas). " + 'Deliberate differences from ContainerSSH 0.5 are listed in the service README.',
    components: { named: WIRE_COMPONENTS, schemas: wireComponentSchemas() },
  };
}

const error = (description: string) => ({ schema: ErrorResponseSchema, description });

/** What a refused login is: the decision, never an error status. */
export const AUTH_ANSWER = 'The decision: a refused login is 200 with success false.';

/** Statuses every webhook route may answer besides 200, all with an ErrorResponse body. */
export const WEBHOOK_ERROR_ANSWERS = {
  400: error('The body is not JSON or fails the schema; `code` is stable, `message` names the field.'),
  403: error('The client certificate is valid but not allowed.'),
  413: error('The body is too large.'),
  415: error('The body is not application/json.'),
  500: error('The service failed; the gateway treats this as "unavailable", never as "denied".'),
} as const;

/** For routes that ask another service (a KDC, an identity provider, GitHub). */
export const UNAVAILABLE_ANSWER = error('A service this route depends on cannot be reached; the gateway treats this as "unavailable", never as "denied".');

/** For /config: a policy may deny the session, besides the client-certificate pin. */
export const POLICY_DENIED_ANSWER = error('The client certificate is valid but not allowed, or the policy denies this session (`CONFIG_POLICY_DENIED`).');
