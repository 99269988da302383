import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, test, type TestContext } from 'node:test';
import { readFile, writeFile } from 'node:fs/promises';
import { createCertificate, createCertificateAuthority, loadCertificateAuthority } from '@portcullis/pki';
import { startFakeWebhook } from '../helpers/fake-webhook.ts';
import { runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { E2E } from '../helpers/deadlines.ts';

type ServerCertificate = 'trusted' | 'wrong-name' | 'other-ca';

/**
 * The certificate the fake server presents. `wrong-name` is signed by the right CA for a
 * name the gateway did not dial; `other-ca` names the right host but comes from another CA.
 */
async function fakeCerts(certsDir: string, kind: ServerCertificate): Promise<{ cert: string; key: string; ca: string }> {
  const ca = join(certsDir, 'ca.crt');
  if (kind === 'trusted') return { cert: join(certsDir, 'configserver.crt'), key: join(certsDir, 'configserver.key'), ca };
  const issuer = kind === 'wrong-name' ? await loadCertificateAuthority(await readFile(ca, 'utf8'), await readFile(join(certsDir, 'ca.key'), 'utf8')) : await createCertificateAuthority();
  const sans = kind === 'wrong-name' ? ['elsewhere.example'] : ['localhost', '127.0.0.1'];
  const issued = await createCertificate(issuer, { commonName: sans[0]!, sans, usage: 'server' });
  await writeFile(join(certsDir, `${kind}.crt`), issued.certPem);
  await writeFile(join(certsDir, `${kind}.key`), issued.keyPem, { mode: 0o600 });
  return { cert: join(certsDir, `${kind}.crt`), key: join(certsDir, `${kind}.key`), ca };
}
/** A world whose gateway talks to a misbehaving server in place of one of the webhooks. */
async function worldWithFake(
  t: TestContext,
  replaced: 'authUrl' | 'configserverUrl',
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  options: { webhookTimeout?: string; serverCertificate?: ServerCertificate } = {},
): Promise<World> {
  let fake: Awaited<ReturnType<typeof startFakeWebhook>> | undefined;
  const world = await startWorld({
    ...(options.webhookTimeout ? { webhookTimeout: options.webhookTimeout } : {}),
    beforeGateway: async (certsDir) => {
      fake = await startFakeWebhook(await fakeCerts(certsDir, options.serverCertificate ?? 'trusted'), handler);
      return { [replaced]: fake.url(replaced === 'authUrl' ? '' : '/config') };
    },
  });
  t.after(async () => {
    await world.stop();
    await fake?.close();
  });
  return world;
}

const login = (world: World) => runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'echo logged-in', timeoutMs: 30_000 });

describe('the gateway fails closed when a webhook cannot give a valid answer', () => {
  test('authserver stopped: refused at once with a message naming the problem', E2E, async (t) => {
    const world = await startWorld();
    t.after(() => world.stop());
    await world.authserver.stop();
    const started = Date.now();
    const result = await login(world);
    assert.equal(result.code, 255);
    assert.doesNotMatch(result.stdout, /logged-in/);
    assert.match(result.stderr, /authentication service cannot be reached.*AUTH_BACKEND_ERROR/);
    assert.ok(Date.now() - started < 20_000, 'refused, not hung');
    await world.gateway.waitForCode('AUTH_BACKEND_ERROR');
  });

  test('configserver answering garbage: refused with a message', E2E, async (t) => {
    const world = await worldWithFake(t, 'configserverUrl', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ config: { backend: 'docker', docker: { execution: { container: {} } } } }));
    });
    const result = await login(world);
    assert.equal(result.code, 255);
    assert.match(result.stderr, /configuration service answered with an invalid response.*CONFIG_BACKEND_ERROR/);
    const logged = await world.gateway.waitForCode('CONFIG_BACKEND_ERROR');
    assert.match(JSON.stringify(logged), /container\.image/, 'the log names the invalid field for operators');
  });

  test('configserver answering non-JSON with status 500: refused with a message', E2E, async (t) => {
    const world = await worldWithFake(t, 'configserverUrl', (_req, res) => {
      res.writeHead(500);
      res.end('<html>oops</html>');
    });
    const result = await login(world);
    assert.equal(result.code, 255);
    assert.match(result.stderr, /configuration service answered with an error.*CONFIG_BACKEND_ERROR/);
    assert.doesNotMatch(result.stderr, /oops/, 'nothing the upstream said reaches the user');
  });

  test('authserver that never answers: refused after the timeout, not hung', E2E, async (t) => {
    const world = await worldWithFake(t, 'authUrl', () => undefined, { webhookTimeout: '1s' });
    const result = await login(world);
    assert.equal(result.code, 255);
    assert.match(result.stderr, /authentication service did not answer in time.*AUTH_BACKEND_ERROR/);
  });

  for (const serverCertificate of ['wrong-name', 'other-ca'] as const) {
    test(`an auth server with an untrusted certificate (${serverCertificate}) is never asked`, E2E, async (t) => {
      let asked = 0;
      const world = await worldWithFake(
        t,
        'authUrl',
        (_req, res) => {
          asked += 1;
          res.end(JSON.stringify({ success: true, authenticatedUsername: 'demo' }));
        },
        { serverCertificate },
      );
      const result = await login(world);
      assert.equal(result.code, 255);
      assert.match(result.stderr, /authentication service cannot be reached.*AUTH_BACKEND_ERROR/);
      assert.equal(asked, 0, 'the credential never left the gateway');
    });
  }
});
