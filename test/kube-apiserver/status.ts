/**
 * The Kubernetes `Status` body (meta/v1) and the errors that carry one. Messages, reasons and
 * codes follow k8s.io/apimachinery/pkg/api/errors so a client's error handling meets what a
 * real API server sends.
 */

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** A resource as errors name it: `pods`, `leases.coordination.k8s.io`. */
export interface ResourceName {
  group: string;
  resource: string;
}

function qualified(r: ResourceName): string {
  return r.group ? `${r.resource}.${r.group}` : r.resource;
}

function details(r: ResourceName, name: string | undefined, extra: Partial<StatusDetails> = {}): StatusDetails {
  const d: StatusDetails = {};
  if (name !== undefined) d.name = name;
  if (r.group) d.group = r.group;
  d.kind = r.resource;
  return { ...d, ...extra };
}

export class ApiError extends Error {
  constructor(readonly status: Status) {
    super(status.message ?? status.reason ?? 'Failure');
  }
  get code(): number {
    return this.status.code;
  }
}

export function failure(code: number, reason: string | undefined, message: string, d?: StatusDetails): ApiError {
  const status: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, code };
  if (reason) status.reason = reason;
  if (d) status.details = d;
  return new ApiError(status);
}

export function success(r: ResourceName, name: string, uid?: string): Status {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: details(r, name, uid ? { uid } : {}),
    code: 200,
  };
}

export const errors = {
  notFound: (r: ResourceName, name: string) => failure(404, 'NotFound', `${qualified(r)} "${name}" not found`, details(r, name)),
  alreadyExists: (r: ResourceName, name: string) => failure(409, 'AlreadyExists', `${qualified(r)} "${name}" already exists`, details(r, name)),
  conflict: (r: ResourceName, name: string) =>
    failure(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${qualified(r)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      details(r, name),
    ),
  /** `forbidden(pods, "x", "exceeded quota: ...")` → `pods "x" is forbidden: exceeded quota: ...`. */
  forbidden: (r: ResourceName, name: string | undefined, why: string) =>
    failure(403, 'Forbidden', name === undefined || name === '' ? `${qualified(r)} is forbidden: ${why}` : `${qualified(r)} "${name}" is forbidden: ${why}`, details(r, name)),
  /** 422 with one cause per field error, message as field.ErrorList.ToAggregate() prints it. */
  invalid: (kind: string, group: string, name: string, causes: Array<{ field: string; reason: string; message: string }>) => {
    const parts = causes.map((c) => `${c.field}: ${c.message}`);
    const summary = parts.length === 1 ? parts[0]! : `[${parts.join(', ')}]`;
    const d: StatusDetails = { name };
    if (group) d.group = group;
    d.kind = kind;
    d.causes = causes.map((c) => ({ reason: c.reason, message: c.message, field: c.field }));
    return failure(422, 'Invalid', `${kind} "${name}" is invalid: ${summary}`, d);
  },
  badRequest: (message: string) => failure(400, 'BadRequest', message),
  unauthorized: () => failure(401, 'Unauthorized', 'Unauthorized'),
  methodNotAllowed: () => failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'),
  notAcceptable: (message: string) => failure(406, 'NotAcceptable', message),
  unsupportedMediaType: (type: string) =>
    failure(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml; got ${type}`,
    ),
  pathNotFound: () => failure(404, 'NotFound', 'the server could not find the requested resource', {}),
  gone: (message: string) => failure(410, 'Expired', message),
  internal: (message: string) => failure(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] }),
};

/** Field errors as k8s.io/apimachinery/pkg/util/validation/field prints them. */
export const fieldError = {
  required: (field: string) => ({ field, reason: 'FieldValueRequired', message: 'Required value' }),
  invalid: (field: string, value: unknown, detail: string) => ({
    field,
    reason: 'FieldValueInvalid',
    message: `Invalid value: ${JSON.stringify(value)}: ${detail}`,
  }),
  notSupported: (field: string, value: unknown, supported: string[]) => ({
    field,
    reason: 'FieldValueNotSupported',
    message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported.map((s) => `"${s}"`).join(', ')}`,
  }),
  duplicate: (field: string, value: unknown) => ({
    field,
    reason: 'FieldValueDuplicate',
    message: `Duplicate value: ${JSON.stringify(value)}`,
  }),
  notFound: (field: string, value: unknown) => ({
    field,
    reason: 'FieldValueNotFound',
    message: `Not found: ${JSON.stringify(value)}`,
  }),
  forbidden: (field: string, detail: string) => ({ field, reason: 'FieldValueForbidden', message: `Forbidden: ${detail}` }),
};

export type FieldError = ReturnType<typeof fieldError.required>;
