import fc from 'fast-check';

/** One HTTP request body as a client may send it: raw bytes and a content type. */
export interface RawBody {
  readonly payload: string;
  readonly contentType: string;
}

const JSON_TYPE = 'application/json';

/** Values of every JSON kind, including the ones that break naive code (huge, empty, odd keys). */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, true, 0, -1, 1e308, '', ' ', '\u0000', '__proto__', 'A'.repeat(70_000), [], {}),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'prototype', 'value', 'sensitive', 'mode', ''), fc.jsonValue({ maxDepth: 2 })),
);

/**
 * Malformed bodies for a route whose valid body is `valid`: a field removed, a field (or a
 * field inside a map entry) replaced by a hostile value, an unknown top-level value, text
 * that is not JSON, a truncated document, deep nesting, and other content types.
 */
export function malformedBodies(valid: Record<string, unknown>): fc.Arbitrary<RawBody> {
  const keys = Object.keys(valid);
  const asJson = (value: unknown): RawBody => ({ payload: JSON.stringify(value) ?? 'undefined', contentType: JSON_TYPE });
  return fc.oneof(
    // One field missing.
    fc.constantFrom(...keys).map((key) => asJson(Object.fromEntries(Object.entries(valid).filter(([k]) => k !== key)))),
    // One field replaced by something of another shape.
    fc.tuple(fc.constantFrom(...keys), hostileValue).map(([key, value]) => asJson({ ...valid, [key]: value })),
    // A map entry that is not {value, sensitive}.
    fc.tuple(fc.constantFrom('metadata', 'environment', 'files'), fc.string({ maxLength: 20 }), hostileValue).map(([map, name, value]) => asJson({ ...valid, [map]: { [name]: value } })),
    // A file entry with a bad path, content or mode.
    fc
      .tuple(fc.constantFrom('relative', '/a/../etc/passwd', '/ok', ''), fc.string({ maxLength: 12 }), fc.oneof(fc.string({ maxLength: 6 }), fc.integer()))
      .map(([path, value, mode]) => asJson({ ...valid, files: { [path]: { value, sensitive: true, mode } } })),
    // The whole body of another kind.
    hostileValue.filter((value) => typeof value !== 'object' || value === null || Array.isArray(value)).map(asJson),
    // Not JSON, or cut short.
    fc.string({ maxLength: 200 }).map((payload) => ({ payload, contentType: JSON_TYPE })),
    fc.nat({ max: 200 }).map((cut) => ({ payload: JSON.stringify(valid).slice(0, cut % JSON.stringify(valid).length), contentType: JSON_TYPE })),
    // Nesting deep enough to hurt a recursive parser.
    fc.integer({ min: 100, max: 5_000 }).map((depth) => ({ payload: '['.repeat(depth) + ']'.repeat(depth), contentType: JSON_TYPE })),
    // Another content type, or a lying one.
    fc
      .tuple(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'application/json; charset=latin1', ''), fc.string({ maxLength: 50 }))
      .map(([contentType, payload]) => ({ payload, contentType })),
  );
}

/** An app whose routes can be injected into (a built Fastify app). */
interface Injectable {
  inject(options: { method: 'POST' | 'GET'; url: string; payload?: string; headers?: Record<string, string> }): Promise<{ statusCode: number; json(): unknown }>;
}

/**
 * Sends 1,000 malformed variants of `valid` to `url`: every answer is below 500, every refusal
 * is a `{ code, message }` body (checked by `errorBody`), and the service still answers /healthz.
 */
export async function assertMalformedBodiesRefused(app: Injectable, url: string, valid: Record<string, unknown>, errorBody: (body: unknown) => unknown): Promise<void> {
  let answered = 0;
  await fc.assert(
    fc.asyncProperty(malformedBodies(valid), async ({ payload, contentType }) => {
      const res = await app.inject({ method: 'POST', url, payload, headers: contentType ? { 'content-type': contentType } : {} });
      answered += 1;
      if (res.statusCode >= 500) throw new Error(`${res.statusCode} for ${payload.slice(0, 200)}`);
      if (res.statusCode !== 200) errorBody(res.json());
    }),
    { numRuns: 1_000, interruptAfterTimeLimit: 100_000 },
  );
  if (answered !== 1_000) throw new Error(`only ${answered} of 1,000 ran within the time bound`);
  const health = await app.inject({ method: 'GET', url: '/healthz' });
  if (health.statusCode !== 200) throw new Error(`/healthz answered ${health.statusCode} afterwards`);
}
