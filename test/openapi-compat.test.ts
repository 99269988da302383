import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { compareApiDocuments } from '../wire/src/openapi-compare.ts';
import { buildApp as buildAuthserver } from '../authserver/src/app.ts';
import { buildApp as buildConfigserver } from '../configserver/src/app.ts';
import { repoPolicy } from '../configserver/src/testing/policy.ts';
import { UserDirectory } from '../authserver/src/users-file.ts';
import { REFERENCE_DIR } from './helpers/reference.ts';

/**
 * Every deliberate difference from ContainerSSH's OpenAPI document, with the reason. The same
 * list is in wire/README.md. A new difference fails the test, and so does a listed one that
 * no longer exists.
 */
const DELIBERATE: ReadonlyArray<{ pattern: RegExp; why: string }> = [
  {
    pattern: /^POST \/(password|pubkey|authz|config) (request|response)\.(metadata|environment)\.\*\.value: required here, optional in ContainerSSH$/,
    why: 'ContainerSSH always sends `value` (no omitempty); an entry without one means nothing and is refused',
  },
  {
    pattern: /^POST \/(password|pubkey|authz|config) (request|response)\.files\.\*\.value: type string here, array in ContainerSSH$/,
    why: "ContainerSSH's document shows Go's []byte as a byte array; Go encodes it as a base64 string, which both sides actually send",
  },
  {
    pattern: /^POST \/(password|pubkey|authz|config) (request|response)\.files\.\*\.mode: only in Portcullis$/,
    why: 'extension: octal permission bits of the file; ContainerSSH ignores unknown fields',
  },
  {
    pattern: /^POST \/(password|pubkey|authz|config) response\.(connectionId|remoteAddress|username): optional here, required in ContainerSSH$/,
    why: "echoed fields: ContainerSSH's client ignores them and its own examples leave them out",
  },
  {
    pattern: /^POST \/(authz|config) request\.authenticatedUsername: required here, optional in ContainerSSH$/,
    why: 'both calls come after authentication; ContainerSSH always sends the field',
  },
  {
    pattern: /^POST \/pubkey request\.caCertificate: only in Portcullis$/,
    why: 'extension from the never-merged ContainerSSH SSH-CA branch; ContainerSSH servers ignore it',
  },
  { pattern: /^POST \/config response\.config\.audit: only in Portcullis$/, why: 'what to record; ContainerSSH keeps its audit settings in its own file' },
  {
    pattern: /^POST \/config response\.config\.(dockerrun|kuberun): only in ContainerSSH$/,
    why: 'placeholders for backends ContainerSSH itself removed; any value there is an error in ContainerSSH too',
  },
  { pattern: /^POST \/config response\.config\.health: only in ContainerSSH$/, why: 'the health listener is gateway plumbing, not per-connection configuration' },
  {
    pattern: /^POST \/keyboard-interactive: only in Portcullis$/,
    why: 'extension: the keyboard-interactive conversation the gateway relays (OIDC device flow, a second factor)',
  },
];

async function reference(): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(`${REFERENCE_DIR}/containerssh/containerssh-authconfig.json`, 'utf8')) as Record<string, unknown>;
}

type Doc = Record<string, unknown> & { paths: Record<string, unknown> };

/** What a client reads at GET /openapi.json. */
async function served(app: FastifyInstance): Promise<Doc> {
  try {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    return res.json() as Doc;
  } finally {
    await app.close();
  }
}

const documents = async () => ({
  authserver: await served(buildAuthserver({ users: await UserDirectory.create(new Map()) })),
  configserver: await served(buildConfigserver({ policy: await repoPolicy() })),
});

/** Both services' operations in one document, as ContainerSSH's single document has them. */
async function bothServices(): Promise<Doc> {
  const { authserver, configserver } = await documents();
  return { ...authserver, paths: { ...authserver.paths, ...configserver.paths } };
}

test("our OpenAPI matches ContainerSSH's path by path and field by field, apart from the listed differences", async () => {
  const differences = compareApiDocuments(await bothServices(), await reference());
  const unexplained = differences.filter((line) => !DELIBERATE.some(({ pattern }) => pattern.test(line)));
  assert.deepEqual(unexplained, [], 'every difference is deliberate and listed');
  for (const { pattern, why } of DELIBERATE) {
    assert.ok(
      differences.some((line) => pattern.test(line)),
      `listed difference no longer exists: ${pattern} (${why})`,
    );
  }
});

test('every ContainerSSH operation is served by one of our services', async () => {
  const paths = Object.keys((await reference()).paths as object).sort();
  assert.deepEqual(paths, ['/authz', '/config', '/password', '/pubkey']);
  const { authserver, configserver } = await documents();
  assert.deepEqual(
    Object.keys(authserver.paths)
      .filter((p) => paths.includes(p))
      .sort(),
    ['/authz', '/password', '/pubkey'],
  );
  assert.deepEqual(
    Object.keys(configserver.paths).filter((p) => paths.includes(p)),
    ['/config'],
  );
});

test('the comparison notices a changed field (it is not vacuous)', async () => {
  const ours = (await bothServices()) as unknown as { components: { schemas: Record<string, { properties: Record<string, unknown>; required: string[] }> } };
  const changed = structuredClone(ours);
  delete changed.components.schemas.PasswordAuthRequest!.properties.passwordBase64;
  changed.components.schemas.PasswordAuthRequest!.properties.password = { type: 'string' };
  const lines = compareApiDocuments(changed as unknown as Record<string, unknown>, await reference());
  assert.ok(lines.includes('POST /password request.passwordBase64: only in ContainerSSH'));
  assert.ok(lines.includes('POST /password request.password: only in Portcullis'));
});

test('the documents are generated, deterministic, and every $ref resolves', async () => {
  const [first, second] = [await documents(), await documents()];
  for (const service of ['authserver', 'configserver'] as const) {
    const doc = first[service];
    assert.deepEqual(doc, second[service]);
    assert.equal(doc.openapi, '3.0.3');
    const schemas = (doc.components as { schemas: Record<string, unknown> }).schemas;
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    for (const ref of refs) {
      const name = ref.replace(/^"\$ref":"#\/components\/schemas\//, '').replace(/"$/, '');
      assert.ok(name in schemas, `${ref} resolves`);
    }
  }
});
