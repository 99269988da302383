import assert from 'node:assert/strict';
import { test, before } from 'node:test';
import { ErrorResponseSchema } from '@portcullis/wire';
import { buildApp } from './app.ts';
import { containerSshExample } from '../../test/helpers/reference.ts';
import { assertMalformedBodiesRefused } from '../../test/helpers/malformed-bodies.ts';
import { hashPassword, parseUsersFile, UserDirectory } from './users-file.ts';

const ALICE_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFSFVNas2nxkr4D13alvWTxmRB39dAklyBnb/wxsjFzn';
const base = { username: 'alice', remoteAddress: '192.0.2.10:51234', connectionId: '3f2504e04f8911d39a0c0305e82c3301', clientVersion: 'SSH-2.0-x' };
const maps = {
  metadata: { team: { value: 'research', sensitive: false } },
  environment: { PROJECT: { value: 'demo', sensitive: false } },
  files: { '/home/user/x': { value: 'eA==', sensitive: false } },
};

let users: UserDirectory;
before(async () => {
  users = await UserDirectory.create(
    parseUsersFile(`users:
  alice:
    passwordHash: "${await hashPassword('password')}"
    authorizedKeys: ["${ALICE_KEY}"]
    metadata:
      team: research
      GITHUB_TOKEN: { value: ghp_secret, sensitive: true }
    environment:
      PROJECT: demo
    files:
      /home/user/.token: { content: "tok\\n", sensitive: true }
      /home/user/hello.sh: { content: "echo hi\\n", mode: "0755" }
`),
  );
});

const VALID: Record<string, Record<string, unknown>> = {
  '/password': { ...base, passwordBase64: Buffer.from('wrong').toString('base64'), ...maps },
  '/pubkey': { ...base, publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHOWlxSNnUZhaQ7in8joPCyJn/Ok7X5SfkxhmbxbEtG1', ...maps },
  '/authz': { ...base, authenticatedUsername: 'alice', ...maps },
};

for (const [route, valid] of Object.entries(VALID)) {
  test(`${route}: 1,000 malformed bodies give no 5xx and no crash`, { timeout: 120_000 }, async (t) => {
    const app = buildApp({ users });
    t.after(() => app.close());
    await assertMalformedBodiesRefused(app, route, valid, (body) => ErrorResponseSchema.parse(body));
  });
}

test("a login answer carries the user's metadata, environment and files; secrets never reach the log", async (t) => {
  const lines: string[] = [];
  const { createLogger } = await import('./logger.ts');
  const { Writable } = await import('node:stream');
  const app = buildApp({ users, logger: createLogger('debug', new Writable({ write: (c, _e, done) => (lines.push(String(c)), done()) })) });
  t.after(() => app.close());
  const res = await app.inject({ method: 'POST', url: '/password', payload: { ...base, passwordBase64: Buffer.from('password').toString('base64') } });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), {
    success: true,
    authenticatedUsername: 'alice',
    metadata: { team: { value: 'research', sensitive: false }, GITHUB_TOKEN: { value: 'ghp_secret', sensitive: true } },
    environment: { PROJECT: { value: 'demo', sensitive: false } },
    files: {
      '/home/user/.token': { value: Buffer.from('tok\n').toString('base64'), sensitive: true },
      '/home/user/hello.sh': { value: Buffer.from('echo hi\n').toString('base64'), sensitive: false, mode: '0755' },
    },
  });
  const key = await app.inject({ method: 'POST', url: '/pubkey', payload: { ...base, publicKey: ALICE_KEY } });
  assert.equal((key.json() as { metadata: object }).metadata !== undefined, true, 'a key login gets the same grants');
  const log = lines.join('');
  assert.doesNotMatch(log, /ghp_secret/);
  assert.doesNotMatch(log, new RegExp(Buffer.from('tok\n').toString('base64')));
});

test('GET /openapi.json serves the document generated from the routes, each status they answer listed', async (t) => {
  const app = buildApp({ users });
  t.after(() => app.close());
  const res = await app.inject({ method: 'GET', url: '/openapi.json' });
  assert.equal(res.statusCode, 200);
  const doc = res.json() as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: unknown }>> };
  assert.equal(doc.openapi, '3.0.3');
  assert.deepEqual(Object.keys(doc.paths).sort(), ['/authz', '/healthz', '/keyboard-interactive', '/openapi.json', '/password', '/pubkey']);
  const statuses = (path: string) => Object.keys(doc.paths[path]!.post!.responses).sort();
  // The KDC, the identity provider and GitHub can be down: those routes answer 503.
  assert.deepEqual(statuses('/password'), ['200', '400', '403', '413', '415', '500', '503']);
  assert.deepEqual(statuses('/keyboard-interactive'), ['200', '400', '403', '413', '415', '500', '503']);
  assert.deepEqual(statuses('/pubkey'), ['200', '400', '403', '413', '415', '500']);
  assert.deepEqual(doc.paths['/password']!.post!.requestBody, { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/PasswordAuthRequest' } } } });
});

/** ContainerSSH's own examples, sent verbatim, as a ContainerSSH gateway would send them. */
const VERBATIM: ReadonlyArray<readonly [string, string, number, string | undefined]> = [
  ['/password', 'derived/password-request.json', 200, undefined],
  ['/pubkey', 'derived/pubkey-request.json', 200, undefined],
  ['/pubkey', 'derived/pubkey-request-certificate.json', 200, undefined],
  ['/pubkey', 'derived/pubkey-request-cacertificate.UNMERGED.json', 200, undefined],
  ['/authz', 'derived/authz-request.json', 200, undefined],
  // The docs' placeholders ("Base 64-encoded password", "ssh-rsa ...", file contents) are not
  // valid base64 or key text: a clear 400 naming the field, never a 5xx.
  ['/password', 'password-request.json', 400, 'passwordBase64'],
  ['/password', 'legacy-password-request.json', 400, 'passwordBase64'],
  ['/pubkey', 'pubkey-request.json', 400, 'publicKey'],
  ['/pubkey', 'legacy-pubkey-request.json', 400, 'publicKey'],
  ['/authz', 'authz-request.json', 400, 'files./path/to/file.value'],
];

for (const [route, example, status, field] of VERBATIM) {
  test(`${route} with the reference example ${example} verbatim answers ${status}`, async (t) => {
    const app = buildApp({ users });
    t.after(() => app.close());
    const res = await app.inject({ method: 'POST', url: route, payload: await containerSshExample(example) });
    assert.equal(res.statusCode, status, res.body);
    if (field) {
      const body = ErrorResponseSchema.parse(res.json());
      assert.equal(body.code, 'AUTH_REQUEST_INVALID');
      assert.ok(body.message.includes(field), body.message);
    } else {
      assert.equal(typeof (res.json() as { success: unknown }).success, 'boolean');
    }
  });
}
