import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { E2E } from '../helpers/deadlines.ts';
import { pollUntilOrLast } from '../helpers/poll-until.ts';

/** Sums every sample of `name` whose labels include all of `labels` (Prometheus text format). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-z_:]+)(?:\{([^}]*)\})? ([0-9.e+-]+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const has = Object.entries(labels).every(([key, value]) => (match[2] ?? '').includes(`${key}="${value}"`));
    if (has) total += Number(match[3]);
  }
  return total;
}

describe('operators see metrics and health', () => {
  let world: World;
  let metricsPort: number;
  let healthPort: number;
  before(async () => {
    world = await startWorld({ gateway: { metrics: { listen: '127.0.0.1:0' }, health: { listen: '127.0.0.1:0' } } });
    await world.gateway.waitForCode('GATEWAY_OPS_LISTENING');
    const listeners = world.gateway.logs.filter((line) => line.code === 'GATEWAY_OPS_LISTENING');
    // Both on one listen address: one listener serves both.
    metricsPort = Number(listeners.find((line) => String(line.serves).includes('metrics'))?.port);
    healthPort = Number(listeners.find((line) => String(line.serves).includes('health'))?.port);
    assert.ok(metricsPort > 0 && healthPort > 0, 'both endpoints are listening');
  });
  after(() => world.stop());

  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(res.status, 200);
    return res.text();
  };

  test("a login and a failed login move ContainerSSH's counters and fill the latency histograms", E2E, async () => {
    const before = await scrape();
    const good = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'true' });
    assert.equal(good.code, 0, good.stderr);
    const bad = await runSsh({ port: world.sshPort, username: world.username, password: 'wrong', command: 'true' });
    assert.equal(bad.code, 255);
    // The failed connection is counted when it closes; poll briefly for it.
    const afterText = await pollUntilOrLast(scrape, {
      what: 'the failed handshake counted',
      until: (text) => sample(text, 'containerssh_ssh_failed_handshakes_total') !== sample(before, 'containerssh_ssh_failed_handshakes_total'),
      timeoutMs: 5_000,
    });
    const grew = (name: string, labels?: Record<string, string>) => sample(afterText, name, labels) - sample(before, name, labels);
    assert.equal(grew('containerssh_ssh_connections_total'), 2);
    assert.equal(grew('containerssh_ssh_successful_handshakes_total'), 1);
    assert.equal(grew('containerssh_ssh_failed_handshakes_total'), 1);
    assert.equal(grew('containerssh_auth_server_requests_total', { authtype: 'password' }), 2);
    assert.equal(grew('containerssh_auth_success_total', { authtype: 'password' }), 1);
    assert.equal(grew('containerssh_auth_failures_total', { authtype: 'password' }), 1);
    assert.equal(grew('containerssh_config_server_requests_total'), 1);
    assert.equal(grew('containerssh_backend_requests_total', { backend: 'docker' }), 1);
    assert.equal(grew('containerssh_backend_errors_total'), 0);
    for (const histogram of [
      'portcullis_auth_webhook_duration_seconds',
      'portcullis_config_webhook_duration_seconds',
      'portcullis_backend_start_duration_seconds',
      'portcullis_time_to_shell_seconds',
    ]) {
      assert.ok(grew(`${histogram}_count`) >= 1, `${histogram} observed`);
      assert.ok(sample(afterText, `${histogram}_sum`) > 0, `${histogram} has a duration`);
    }
    assert.doesNotMatch(afterText, new RegExp(world.password), 'no secret in metrics');
    assert.doesNotMatch(afterText, /username=|demo/, 'no username label');
  });

  test('/healthz is 200 with every dependency up, and 503 naming the authserver once it stops', E2E, async () => {
    const up = await fetch(`http://127.0.0.1:${healthPort}/healthz`);
    assert.equal(up.status, 200);
    assert.deepEqual(await up.json(), { status: 'ok', failing: [], checks: { auth: 'ok', configserver: 'ok', docker: 'ok' } });
    await world.authserver.stop();
    const res = await pollUntilOrLast(() => fetch(`http://127.0.0.1:${healthPort}/healthz`), {
      what: '/healthz to fail',
      until: (answer) => answer.status !== 200,
      timeoutMs: 20_000,
      intervalMs: 250,
    });
    assert.equal(res.status, 503);
    const body = (await res.json()) as { status: string; failing: string[] };
    assert.equal(body.status, 'unavailable');
    assert.deepEqual(body.failing, ['auth']);
  });
});
