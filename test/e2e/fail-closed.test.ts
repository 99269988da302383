import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startFakeWebhook } from '../helpers/fake-webhook.ts';
import { runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';

function fakeCerts(certsDir: string) {
  return {
    cert: join(certsDir, 'configserver.crt'),
    key: join(certsDir, 'configserver.key'),
    ca: join(certsDir, 'ca.crt'),
  };
}

const login = (world: World) =>
  runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'echo logged-in', timeoutMs: 30_000 });

describe('the gateway fails closed when a webhook cannot give a valid answer', () => {
  test('authserver stopped: refused at once with a message naming the problem', async (t) => {
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

  test('configserver answering garbage: refused with a message', async (t) => {
    let fake: Awaited<ReturnType<typeof startFakeWebhook>> | undefined;
    const world = await startWorld({
      beforeGateway: async (certsDir) => {
        fake = await startFakeWebhook(fakeCerts(certsDir), (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ config: { backend: 'docker', docker: { execution: { container: {} } } } }));
        });
        return { configserverUrl: fake.url('/config') };
      },
    });
    t.after(async () => {
      await world.stop();
      await fake?.close();
    });
    const result = await login(world);
    assert.equal(result.code, 255);
    assert.match(result.stderr, /configuration service answered with an invalid response.*CONFIG_BACKEND_ERROR/);
    const logged = await world.gateway.waitForCode('CONFIG_BACKEND_ERROR');
    assert.match(JSON.stringify(logged), /container\.image/, 'the log names the invalid field for operators');
  });

  test('configserver answering non-JSON with status 500: refused with a message', async (t) => {
    let fake: Awaited<ReturnType<typeof startFakeWebhook>> | undefined;
    const world = await startWorld({
      beforeGateway: async (certsDir) => {
        fake = await startFakeWebhook(fakeCerts(certsDir), (_req, res) => {
          res.writeHead(500);
          res.end('<html>oops</html>');
        });
        return { configserverUrl: fake.url('/config') };
      },
    });
    t.after(async () => {
      await world.stop();
      await fake?.close();
    });
    const result = await login(world);
    assert.equal(result.code, 255);
    assert.match(result.stderr, /configuration service answered with an error.*CONFIG_BACKEND_ERROR/);
    assert.doesNotMatch(result.stderr, /oops/, 'nothing the upstream said reaches the user');
  });

  test('authserver that never answers: refused after the timeout, not hung', async (t) => {
    let fake: Awaited<ReturnType<typeof startFakeWebhook>> | undefined;
    const world = await startWorld({
      webhookTimeout: '1s',
      beforeGateway: async (certsDir) => {
        fake = await startFakeWebhook(fakeCerts(certsDir), () => {
          // never answers
        });
        return { authUrl: fake.url('') };
      },
    });
    t.after(async () => {
      await world.stop();
      await fake?.close();
    });
    const result = await login(world);
    assert.equal(result.code, 255);
    assert.match(result.stderr, /authentication service did not answer in time.*AUTH_BACKEND_ERROR/);
  });
});
