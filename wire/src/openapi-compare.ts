/**
 * Compares two API documents (our OpenAPI 3.0 and ContainerSSH's Swagger 2.0) path by path and
 * field by field, and lists every difference as one line. Used by the wire tests; exported so
 * the service tests and tooling can print the same list.
 */
type Json = Record<string, unknown>;

interface Field {
  readonly type: string;
  readonly required: boolean;
  /** For objects: their fields; for maps: the value's fields under `*`. */
  readonly fields?: Map<string, Field>;
}

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

function resolve(doc: Json, schema: unknown): Json {
  let current = isObject(schema) ? schema : {};
  for (let hops = 0; typeof current.$ref === 'string' && hops < 10; hops += 1) {
    const path = current.$ref.replace(/^#\//, '').split('/');
    let target: unknown = doc;
    for (const part of path) target = isObject(target) ? target[part] : undefined;
    current = isObject(target) ? target : {};
  }
  return current;
}

/** A schema's kind: string, boolean, integer, number, array, object or map. */
function kind(schema: Json): string {
  if (schema.type === 'object' && isObject(schema.additionalProperties) && !isObject(schema.properties)) return 'map';
  if (typeof schema.type === 'string') return schema.type;
  if (isObject(schema.properties)) return 'object';
  return 'any';
}

function fieldsOf(doc: Json, schema: Json, depth: number): Map<string, Field> | undefined {
  if (depth <= 0) return undefined;
  const k = kind(schema);
  if (k === 'map') {
    const value = resolve(doc, schema.additionalProperties);
    return new Map([['*', { type: kind(value), required: false, ...withFields(doc, value, depth - 1) }]]);
  }
  if (k !== 'object' || !isObject(schema.properties)) return undefined;
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  return new Map(
    Object.entries(schema.properties).map(([name, raw]) => {
      const field = resolve(doc, raw);
      return [name, { type: kind(field), required: required.has(name), ...withFields(doc, field, depth - 1) }];
    }),
  );
}

function withFields(doc: Json, schema: Json, depth: number): { fields?: Map<string, Field> } {
  const fields = fieldsOf(doc, schema, depth);
  return fields ? { fields } : {};
}

/**
 * AppConfig sections (`config.docker`, ...) are compared by name and kind only: their insides
 * are each backend's own subset of ContainerSSH's settings, documented with that backend.
 */
const compareInside = (at: string) => !/ response\.config\.[^.]+$/.test(at);

function compareFields(where: string, ours: Map<string, Field> | undefined, theirs: Map<string, Field> | undefined, out: string[]): void {
  if (!ours || !theirs || !compareInside(where)) return;
  for (const name of [...new Set([...ours.keys(), ...theirs.keys()])].sort()) {
    const a = ours.get(name);
    const b = theirs.get(name);
    const at = `${where}.${name}`;
    if (!a) out.push(`${at}: only in ContainerSSH`);
    else if (!b) out.push(`${at}: only in Portcullis`);
    else {
      if (a.type !== b.type) out.push(`${at}: type ${a.type} here, ${b.type} in ContainerSSH`);
      if (a.required !== b.required) out.push(`${at}: ${a.required ? 'required' : 'optional'} here, ${b.required ? 'required' : 'optional'} in ContainerSSH`);
      compareFields(at, a.fields, b.fields, out);
    }
  }
}

/** Request and 200-response body schemas of one operation, in either document format. */
function bodies(doc: Json, path: string): { request: Json; response: Json } | undefined {
  const paths = isObject(doc.paths) ? doc.paths : {};
  const post = isObject(paths[path]) && isObject(paths[path].post) ? (paths[path].post as Json) : undefined;
  if (!post) return undefined;
  const responses = isObject(post.responses) ? post.responses : {};
  const ok = resolve(doc, responses['200']);
  if (isObject(post.requestBody)) {
    const content = (body: unknown) => resolve(doc, ((body as Json).content as Json)?.['application/json'] && (((body as Json).content as Json)['application/json'] as Json).schema);
    return { request: content(post.requestBody), response: content(ok) };
  }
  const parameter = (Array.isArray(post.parameters) ? (post.parameters as Json[]) : []).find((p) => p.in === 'body');
  return { request: resolve(doc, parameter?.schema), response: resolve(doc, ok.schema) };
}

/**
 * Every difference between `ours` and `theirs` for the POST operations either names, as
 * sorted lines: `POST /pubkey request.caCertificate: only in Portcullis`. `depth` bounds how
 * far into nested objects the comparison goes (3 reaches map values and AppConfig sections).
 */
export function compareApiDocuments(ours: Json, theirs: Json, depth = 3): string[] {
  const out: string[] = [];
  const postPaths = (doc: Json) =>
    Object.entries(isObject(doc.paths) ? doc.paths : {})
      .filter(([, item]) => isObject(item) && isObject(item.post))
      .map(([path]) => path);
  for (const path of [...new Set([...postPaths(ours), ...postPaths(theirs)])].sort()) {
    const a = bodies(ours, path);
    const b = bodies(theirs, path);
    if (!a) out.push(`POST ${path}: only in ContainerSSH`);
    else if (!b) out.push(`POST ${path}: only in Portcullis`);
    else {
      compareFields(`POST ${path} request`, fieldsOf(ours, a.request, depth), fieldsOf(theirs, b.request, depth), out);
      compareFields(`POST ${path} response`, fieldsOf(ours, a.response, depth), fieldsOf(theirs, b.response, depth), out);
    }
  }
  return out;
}
