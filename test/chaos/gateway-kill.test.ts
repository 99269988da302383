import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { listSessionContainers } from '../helpers/docker.ts';
import { startFakeWebhook } from '../helpers/fake-webhook.ts';
import { hardenedExecution } from '../helpers/fake-config.ts';
import { byMode } from '../helpers/long-mode.ts';
import type { RunningProgram } from '../helpers/program.ts';
import { runSsh, type SshResult } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { pollUntilOrLast } from '../helpers/poll-until.ts';

/**
 * Chaos on the Docker backend: connections spread over two gateway instances, one of them killed
 * with SIGKILL now and then (and replaced), and one session in ten given an image that cannot be
 * pulled. Whatever happened, no container of any instance is left 60 s after the run.
 */
const CONNECTIONS = byMode(40, 1_000);
const KILLS = byMode(2, 20);
const PARALLEL = 4;
const UNPULLABLE = '127.0.0.1:9/portcullis/unreachable:1';

describe('chaos: kill -9 of gateways and unpullable images leave zero containers', () => {
  let world: World;
  let fake: Awaited<ReturnType<typeof startFakeWebhook>> | undefined;
  let configCalls = 0;
  before(async () => {
    world = await startWorld({
      logLevel: 'info',
      beforeGateway: async (certsDir) => {
        fake = await startFakeWebhook({ cert: join(certsDir, 'configserver.crt'), key: join(certsDir, 'configserver.key'), ca: join(certsDir, 'ca.crt') }, (req, res) => {
          req.resume();
          req.on('end', () => {
            configCalls += 1;
            // Every tenth session asks for an image no registry serves.
            const execution =
              configCalls % 10 === 0 ? hardenedExecution({ imagePullPolicy: 'Always', container: { ...(hardenedExecution().container as object), image: UNPULLABLE } }) : hardenedExecution();
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ config: { backend: 'docker', docker: { execution } } }));
          });
        });
        return { configserverUrl: fake.url('/config') };
      },
    });
  });
  after(async () => {
    await world.stop();
    await fake?.close();
  });

  test('connections over two instances with kills and bad images: every one ends, zero containers left', { timeout: byMode(600_000, 3_600_000) }, async (t) => {
    // The instances a load balancer would send new connections to; a killed one leaves at once.
    const gateways: RunningProgram[] = [world.gateway, await world.startAnotherGateway()];
    const everyGateway = [...gateways];
    const instances = new Set<string>();
    const instanceOf = async (gateway: RunningProgram) => String((await gateway.waitForCode('SSH_AVAILABLE')).instanceId);
    for (const gateway of gateways) instances.add(await instanceOf(gateway));

    // Kill points spread over the run: after these many started connections, kill one instance.
    const killAt = new Set(Array.from({ length: KILLS }, (_, i) => Math.floor(((i + 1) * CONNECTIONS) / (KILLS + 1))));
    const results: SshResult[] = [];
    let started = 0;
    let kills = 0;
    let replacing: Promise<void> = Promise.resolve();
    const worker = async () => {
      while (started < CONNECTIONS) {
        const index = started++;
        if (killAt.has(index)) {
          // Only ever one instance down at a time: a kill waits for the previous one's replacement
          // (on a busy machine a start can outlast the connections between two kill points).
          await replacing;
          const [victim] = gateways.splice(Math.floor(Math.random() * gateways.length), 1);
          victim!.process.kill('SIGKILL');
          kills += 1;
          // Meanwhile the survivor takes every new connection, as behind a load balancer.
          replacing = world.startAnotherGateway().then(async (replacement) => {
            instances.add(await instanceOf(replacement));
            everyGateway.push(replacement);
            gateways.push(replacement);
          });
        }
        const gateway = gateways[index % gateways.length]!;
        results.push(await runSsh({ port: gateway.port, username: world.username, password: world.password, command: 'echo ok; sleep 0.2', timeoutMs: 60_000 }));
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    await replacing;

    const ok = results.filter((result) => result.code === 0 && result.stdout === 'ok\n').length;
    const pullRefused = results.filter((result) => /its image could not be downloaded.*DOCKER_IMAGE_PULL_FAILED/.test(result.stderr)).length;
    const other = results.length - ok - pullRefused;
    if (ok < CONNECTIONS * 0.5)
      t.diagnostic(
        results
          .filter((result) => result.code !== 0)
          .map((result) => result.stderr.trim().split('\n').pop())
          .join('\n'),
      );
    assert.equal(results.length, CONNECTIONS, 'every connection ended (none hung past its bound)');
    assert.ok(ok >= CONNECTIONS * 0.5, `most sessions worked (${ok})`);
    assert.ok(pullRefused >= 1, 'unpullable images were refused with their message');
    assert.ok(
      results.every((result) => !/\n\s+at \S+ \(/.test(result.stderr)),
      'no stack trace reached a user',
    );

    // Stop everything, as an operator would after the run; containers of killed instances go too.
    await Promise.all(everyGateway.map((gateway) => gateway.stop()));
    // As in production, a gateway is running afterwards (a restarted one): its reaper removes what a
    // kill -9 left between create and start, which no owner tie covers. It sweeps for every instance.
    const sweeper = await world.startAnotherGateway();
    t.after(() => sweeper.stop());
    const left = await pollUntilOrLast(async () => (await Promise.all([...instances].map((id) => listSessionContainers(id)))).flat(), {
      what: 'no session container of any instance left',
      until: (containers) => containers.length === 0,
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    t.diagnostic(
      `${results.length} connections over ${instances.size} instances, ${kills} kill -9: ${ok} served, ${pullRefused} refused for the image, ${other} cut by a kill; ${left.length} containers left`,
    );
    assert.deepEqual(left, [], 'zero containers left within 60 s');
  });
});
