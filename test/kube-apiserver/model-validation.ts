import { Lease } from 'kubernetes-models/coordination.k8s.io/v1/Lease';
import { Event as CoreEvent } from 'kubernetes-models/v1/Event';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Pod } from 'kubernetes-models/v1/Pod';
import { ResourceQuota } from 'kubernetes-models/v1/ResourceQuota';
import { fieldError, type FieldError } from './status.ts';
import type { KubeObject } from './store.ts';

/** One error of kubernetes-models' validators (Ajv's shape). */
interface SchemaViolation {
  readonly instancePath?: string;
  readonly keyword?: string;
  readonly message?: string;
  readonly params?: { readonly missingProperty?: string; readonly allowedValues?: readonly unknown[] };
}

/**
 * Fields the OpenAPI document marks required though the API server's own validation does not
 * require them (Kubernetes' pod-security fixtures create such pods on a real cluster).
 */
const OPENAPI_ONLY_REQUIRED = ['.scaleIO.secretRef'];

/** Validates one object against Kubernetes' own OpenAPI schema for its kind; throws on a violation. */
type Validator = (object: KubeObject) => void;

// Each model's validate() checks types, enums and required fields as the API server's schema has them.
// The body is untrusted input: the models take it as it came, and validate() says what is wrong.
const VALIDATORS: Readonly<Record<string, Validator>> = {
  pods: (object) => new Pod(object as unknown as ConstructorParameters<typeof Pod>[0]).validate(),
  namespaces: (object) => new Namespace(object as unknown as ConstructorParameters<typeof Namespace>[0]).validate(),
  resourcequotas: (object) => new ResourceQuota(object as unknown as ConstructorParameters<typeof ResourceQuota>[0]).validate(),
  events: (object) => new CoreEvent(object as unknown as ConstructorParameters<typeof CoreEvent>[0]).validate(),
  leases: (object) => new Lease(object as unknown as ConstructorParameters<typeof Lease>[0]).validate(),
};

/**
 * The field errors Kubernetes' schema finds in `object` (a resource this server stores), as the
 * API server reports them in a 422 Invalid Status: `spec.containers[0].name: Required value`.
 * A resource without a model here is not checked.
 */
export function schemaFieldErrors(resource: string, object: KubeObject): FieldError[] {
  const validate = VALIDATORS[resource];
  if (!validate) return [];
  try {
    validate(withoutNulls(object) as KubeObject);
    return [];
  } catch (error) {
    const violations = (error as { errors?: readonly SchemaViolation[] }).errors ?? [];
    if (violations.length === 0) return [fieldError.invalid('', null, (error as Error).message)];
    return violations
      .map((violation) => toFieldError(object, violation))
      .filter((found) => !(found.reason === 'FieldValueRequired' && OPENAPI_ONLY_REQUIRED.some((suffix) => found.field.endsWith(suffix))));
  }
}

function toFieldError(object: KubeObject, violation: SchemaViolation): FieldError {
  const parts = (violation.instancePath ?? '')
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
  const field = fieldPath(parts);
  const missing = violation.params?.missingProperty;
  if (violation.keyword === 'required' && missing) return fieldError.required(field ? `${field}.${missing}` : missing);
  const value = valueAt(object, parts);
  if (violation.keyword === 'enum' && violation.params?.allowedValues) return fieldError.notSupported(field, value, violation.params.allowedValues.map(String));
  return fieldError.invalid(field, value, violation.message ?? 'does not match the schema');
}

/** Go's JSON decoding reads a `null` field as one not given: the schema never sees it. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, field]) => field !== null)
      .map(([key, field]) => [key, withoutNulls(field)]),
  );
}

/** `/spec/containers/0/name` as Kubernetes writes a field path: `spec.containers[0].name`. */
function fieldPath(parts: readonly string[]): string {
  return parts.reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), '');
}

function valueAt(object: unknown, parts: readonly string[]): unknown {
  let current: unknown = object;
  for (const part of parts) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}
