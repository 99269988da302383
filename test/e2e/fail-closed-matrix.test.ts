import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { createCertificate, loadCertificateAuthority } from '@portcullis/pki';
import { startFakeWebhook } from '../helpers/fake-webhook.ts';
import { runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { E2E } from '../helpers/deadlines.ts';

/**
 * Rows of docs/failure-matrix.md that test/e2e/fail-closed.test.ts does not already prove: each
 * failure refuses the login with its one-line message and code, logs that code, and counts it
 * under ContainerSSH's failure metric.
 */
type Served = 'auth' | 'configserver';

interface Setup {
  world: World;
  asked: { count: number };
  metrics: () => Promise<string>;
}

/** A world whose `served` webhook is a fake answering with `handler`, behind a certificate of our CA. */
async function worldWithFake(
  t: TestContext,
  served: Served,
  handler: ((req: IncomingMessage, res: ServerResponse) => void) | 'stopped',
  options: { timeout?: string; expiredServerCertificate?: boolean } = {},
): Promise<Setup> {
  const asked = { count: 0 };
  let fake: Awaited<ReturnType<typeof startFakeWebhook>> | undefined;
  const world = await startWorld({
    ...(options.timeout ? { webhookTimeout: options.timeout } : {}),
    logLevel: 'info',
    gateway: { metrics: { listen: '127.0.0.1:0' } },
    beforeGateway: async (certsDir) => {
      if (handler === 'stopped') return {};
      let cert = join(certsDir, 'configserver.crt');
      let key = join(certsDir, 'configserver.key');
      if (options.expiredServerCertificate) {
        const ca = await loadCertificateAuthority(await readFile(join(certsDir, 'ca.crt'), 'utf8'), await readFile(join(certsDir, 'ca.key'), 'utf8'));
        const day = 24 * 60 * 60 * 1000;
        const issued = await createCertificate(ca, {
          commonName: 'localhost',
          sans: ['localhost', '127.0.0.1'],
          usage: 'server',
          notBefore: new Date(Date.now() - 2 * day),
          notAfter: new Date(Date.now() - day),
        });
        cert = join(certsDir, 'expired.crt');
        key = join(certsDir, 'expired.key');
        await writeFile(cert, issued.certPem);
        await writeFile(key, issued.keyPem, { mode: 0o600 });
      }
      fake = await startFakeWebhook({ cert, key, ca: join(certsDir, 'ca.crt') }, (req, res) => {
        asked.count += 1;
        handler(req, res);
      });
      return served === 'auth' ? { authUrl: fake.url('') } : { configserverUrl: fake.url('/config') };
    },
  });
  t.after(async () => {
    await world.stop();
    await fake?.close();
  });
  const port = Number((await world.gateway.waitForCode('GATEWAY_OPS_LISTENING')).port);
  return { world, asked, metrics: async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text() };
}

const login = (world: World) => runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'echo logged-in', timeoutMs: 60_000 });

function sample(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-z_:]+)(?:\{([^}]*)\})? ([0-9.e+-]+)$/.exec(line);
    if (match?.[1] === name && Object.entries(labels).every(([k, v]) => (match[2] ?? '').includes(`${k}="${v}"`))) total += Number(match[3]);
  }
  return total;
}

/** The refusal as the user, the log and the metrics see it. */
async function assertRefused(setup: Setup, result: Awaited<ReturnType<typeof login>>, message: RegExp, code: 'AUTH_BACKEND_ERROR' | 'CONFIG_BACKEND_ERROR') {
  assert.equal(result.code, 255, 'the login is refused');
  assert.doesNotMatch(result.stdout, /logged-in/);
  assert.match(result.stderr, message);
  assert.doesNotMatch(result.stderr, /\n\s+at |Error:/, 'no stack trace');
  await setup.world.gateway.waitForCode(code);
  const metrics = await setup.metrics();
  const metric = code === 'AUTH_BACKEND_ERROR' ? 'containerssh_auth_server_failures_total' : 'containerssh_config_server_failures_total';
  assert.ok(sample(metrics, metric, { reason: code }) >= 1, `${metric}{reason="${code}"} counted`);
}

describe('the login fails closed, with its message, code and metric, for each webhook failure', () => {
  test('authserver answering 500: refused, "answered with an error"', E2E, async (t) => {
    const setup = await worldWithFake(t, 'auth', (_req, res) => res.writeHead(500, { 'content-type': 'application/json' }).end('{"code":"X","message":"boom"}'));
    await assertRefused(setup, await login(setup.world), /authentication service answered with an error.*\(AUTH_BACKEND_ERROR\)/, 'AUTH_BACKEND_ERROR');
    assert.doesNotMatch((await login(setup.world)).stderr, /boom/, "the server's own words never reach the user");
  });

  test('authserver answering a body that breaks the schema: refused, "answered with an invalid response"', E2E, async (t) => {
    const setup = await worldWithFake(t, 'auth', (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"success":"yes please"}'));
    await assertRefused(setup, await login(setup.world), /authentication service answered with an invalid response.*\(AUTH_BACKEND_ERROR\)/, 'AUTH_BACKEND_ERROR');
  });

  test('authserver with an expired server certificate: refused, never asked', E2E, async (t) => {
    const setup = await worldWithFake(t, 'auth', (_req, res) => res.end('{"success":true}'), { expiredServerCertificate: true });
    await assertRefused(setup, await login(setup.world), /authentication service cannot be reached.*\(AUTH_BACKEND_ERROR\)/, 'AUTH_BACKEND_ERROR');
    assert.equal(setup.asked.count, 0, 'the credential never left the gateway');
  });

  test('configserver stopped: refused, "cannot be reached"', E2E, async (t) => {
    const setup = await worldWithFake(t, 'configserver', 'stopped');
    await setup.world.configserver.stop();
    await assertRefused(setup, await login(setup.world), /configuration service cannot be reached.*\(CONFIG_BACKEND_ERROR\)/, 'CONFIG_BACKEND_ERROR');
  });

  test('configserver that never answers: refused after the timeout, not hung', E2E, async (t) => {
    const setup = await worldWithFake(t, 'configserver', () => undefined, { timeout: '1s' });
    await assertRefused(setup, await login(setup.world), /configuration service did not answer in time.*\(CONFIG_BACKEND_ERROR\)/, 'CONFIG_BACKEND_ERROR');
  });

  test('configserver with an expired server certificate: refused, never asked', E2E, async (t) => {
    const setup = await worldWithFake(t, 'configserver', (_req, res) => res.end('{}'), { expiredServerCertificate: true });
    await assertRefused(setup, await login(setup.world), /configuration service cannot be reached.*\(CONFIG_BACKEND_ERROR\)/, 'CONFIG_BACKEND_ERROR');
    assert.equal(setup.asked.count, 0);
  });
});
