import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { ErrorResponseSchema } from '@portcullis/wire';
import { buildApp as buildAuthserver } from '../../authserver/src/app.ts';
import { hashPassword, parseUsersFile, UserDirectory } from '../../authserver/src/users-file.ts';
import { buildApp as buildConfigserver } from '../../configserver/src/app.ts';
import { repoPolicy } from '../../configserver/src/testing/policy.ts';
import { byMode } from '../helpers/long-mode.ts';
import { malformedBodies, type RawBody } from '../helpers/malformed-bodies.ts';

/**
 * Property-based requests against every route each service documents in /openapi.json, plus
 * its GET routes and paths and methods it does not serve. Whatever arrives, the answer is
 * below 500 with a `{ code, message }` body, and the process does not crash.
 */
const RUNS_PER_ROUTE = byMode(300, 5_000);
const TIME_LIMIT_MS = byMode(60_000, 90_000);

const base = { username: 'alice', remoteAddress: '192.0.2.10:51234', connectionId: '3f2504e04f8911d39a0c0305e82c3301', clientVersion: 'SSH-2.0-x' };
/** A valid body per known route, the seed malformedBodies() breaks one field at a time. */
const VALID: Record<string, Record<string, unknown>> = {
  '/password': { ...base, passwordBase64: Buffer.from('wrong').toString('base64') },
  '/pubkey': { ...base, publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHOWlxSNnUZhaQ7in8joPCyJn/Ok7X5SfkxhmbxbEtG1' },
  '/authz': { ...base, authenticatedUsername: 'alice' },
  '/config': { ...base, authenticatedUsername: 'alice' },
};

/** Bodies for a route with no seed here (a route added later is still fuzzed). */
const anyBody: fc.Arbitrary<RawBody> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((value) => ({ payload: JSON.stringify(value) ?? 'null', contentType: 'application/json' })),
  fc
    .record({ ...Object.fromEntries(Object.keys(base).map((key) => [key, fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 2 }))])) })
    .map((value) => ({ payload: JSON.stringify(value), contentType: 'application/json' })),
  fc.string({ maxLength: 300 }).map((payload) => ({ payload, contentType: 'application/json' })),
);

async function documentedRoutes(app: FastifyInstance): Promise<{ method: string; path: string; statuses: string[] }[]> {
  const res = await app.inject({ method: 'GET', url: '/openapi.json' });
  assert.equal(res.statusCode, 200);
  const paths = (res.json() as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> }).paths;
  return Object.entries(paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, operation]) => ({ method: method.toUpperCase(), path, statuses: Object.keys(operation.responses) })));
}

async function fuzz(app: FastifyInstance, t: { diagnostic: (message: string) => void }) {
  const routes = await documentedRoutes(app);
  assert.ok(routes.length >= 1, 'the service documents its routes');
  let tried = 0;
  let serverErrors = 0;
  const check = async (res: { statusCode: number; json: () => unknown; body: string }, what: string) => {
    tried += 1;
    if (res.statusCode >= 500) serverErrors += 1;
    assert.ok(res.statusCode < 500, `${res.statusCode} for ${what.slice(0, 300)}`);
    if (res.statusCode >= 400) ErrorResponseSchema.parse(res.json());
  };
  for (const { method, path, statuses } of routes) {
    const bodies = method === 'POST' ? (VALID[path] ? fc.oneof(malformedBodies(VALID[path]), anyBody) : anyBody) : anyBody;
    await fc.assert(
      fc.asyncProperty(bodies, async ({ payload, contentType }) => {
        const res = await app.inject({ method: method as 'POST', url: path, payload, headers: contentType ? { 'content-type': contentType } : {} });
        await check(res, `${method} ${path} ${payload}`);
        // The document lists every status the route really answers.
        assert.ok(statuses.includes(String(res.statusCode)), `${method} ${path} answered ${res.statusCode}, which its OpenAPI entry does not list`);
      }),
      { numRuns: RUNS_PER_ROUTE, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
  }
  // Methods, paths and query strings nobody documented.
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
      fc.oneof(fc.constantFrom(...routes.map(({ path }) => path), '/healthz', '/openapi.json', '/', '//', '/%00', '/..%2f..%2fetc/passwd'), fc.webPath()),
      fc.option(fc.webQueryParameters()),
      anyBody,
      async (method, path, query, { payload, contentType }) => {
        const url = `${path.startsWith('/') ? path : `/${path}`}${query ? `?${query}` : ''}`;
        const withBody = method !== 'GET' && method !== 'HEAD';
        const res = await app.inject({ method: method as 'GET', url, ...(withBody ? { payload, headers: { 'content-type': contentType } } : {}) });
        tried += 1;
        if (res.statusCode >= 500) serverErrors += 1;
        assert.ok(res.statusCode < 500, `${res.statusCode} for ${method} ${url}`);
      },
    ),
    { numRuns: RUNS_PER_ROUTE, interruptAfterTimeLimit: TIME_LIMIT_MS },
  );
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'still serving');
  t.diagnostic(`${tried} requests over ${routes.length} documented routes and undocumented ones: ${serverErrors} × 5xx, 0 crashes`);
  return tried;
}

test('authserver: property-based requests on every route give no 5xx and no crash', { timeout: TIME_LIMIT_MS * 6 }, async (t) => {
  const users = await UserDirectory.create(parseUsersFile(`users: { alice: { passwordHash: "${await hashPassword('password')}" } }`));
  const app = buildAuthserver({ users });
  t.after(() => app.close());
  assert.ok((await fuzz(app, t)) >= 600, 'hundreds of requests even when the time bound cuts a route short');
});

test('configserver: property-based requests on every route give no 5xx and no crash', { timeout: TIME_LIMIT_MS * 6 }, async (t) => {
  const app = buildConfigserver({ policy: await repoPolicy() });
  t.after(() => app.close());
  assert.ok((await fuzz(app, t)) >= 600, 'hundreds of requests even when the time bound cuts a route short');
});
