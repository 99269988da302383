import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSsh } from '../helpers/ssh-client.ts';
import { startWorld } from '../helpers/world.ts';
import { E2E } from '../helpers/deadlines.ts';

// A gateway deployed where no Docker engine runs (Kubernetes) turns the Docker backend off:
// it must be healthy without an engine, and refuse a docker session by name instead of failing later.
test('with docker.enabled false the gateway is healthy without an engine and refuses docker sessions by name', E2E, async (t) => {
  const world = await startWorld({
    gateway: { docker: { enabled: false, socketPath: '/nonexistent/docker.sock' }, health: { listen: '127.0.0.1:0' } },
  });
  t.after(() => world.stop());
  const port = Number((await world.gateway.waitForCode('GATEWAY_OPS_LISTENING')).port);
  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  const body = (await health.json()) as { checks?: Record<string, unknown> };
  assert.equal(health.status, 200, JSON.stringify(body));
  assert.ok(!JSON.stringify(body).includes('docker'), `no Docker check: ${JSON.stringify(body)}`);

  const result = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'true', timeoutMs: 60_000 });
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /this gateway has no docker backend\. \(CONFIG_UNSUPPORTED\)/);
});
