import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { hardenedPod, SESSION_NAMESPACE, worldWithPod } from '../helpers/kubernetes.ts';
import { byMode } from '../helpers/long-mode.ts';
import type { RunningProgram } from '../helpers/program.ts';
import { holdSession, runSsh, type HeldSession, type SshResult } from '../helpers/ssh-client.ts';

/**
 * Chaos on the Kubernetes backend (against test/kube-apiserver, which runs pods as Docker
 * containers): connections spread over two gateway instances, one of them killed with SIGKILL now
 * and then (and replaced, as a Deployment would), and one login in ten given an image that cannot
 * be pulled. The killed instances' pods are left to the live instances' reapers (their heartbeat
 * Leases stop changing): with only the surviving and restarted gateways running, no pod is left
 * 60 s after the run. Short mode: 30 connections, 2 kills; long mode (`npm run test:long`): 1,000
 * connections, 20 kills.
 */
const CONNECTIONS = byMode(30, 1_000);
const KILLS = byMode(2, 20);
const PARALLEL = 4;
const UNPULLABLE = 'portcullis/unpullable:chaos';

describe('chaos on Kubernetes: kill -9 of gateways and unpullable images leave zero pods', () => {
  test('connections over two instances with kills and bad images: every one ends, zero pods left', { timeout: byMode(600_000, 3_600_000) }, async (t) => {
    let configCalls = 0;
    // Every tenth login's pod asks for an image no registry serves.
    const podFor = () => (++configCalls % 10 === 0 ? hardenedPod({}, { image: UNPULLABLE }) : hardenedPod());
    const kube = await worldWithPod(t, podFor, {
      server: { unpullableImages: [UNPULLABLE] },
      world: { logLevel: 'info' },
    });
    const { world } = kube;

    // The instances a load balancer would send new connections to; a killed one leaves at once.
    const gateways: RunningProgram[] = [world.gateway, await world.startAnotherGateway()];
    const instanceOf = async (gateway: RunningProgram) => String((await gateway.waitForCode('SSH_AVAILABLE')).instanceId);
    const killed = new Set<RunningProgram>();
    const killedIds = new Set<string>();

    // Kill points spread over the run: after these many started connections, kill one instance.
    const killAt = new Set(Array.from({ length: KILLS }, (_, i) => Math.floor(((i + 1) * CONNECTIONS) / (KILLS + 1))));
    const results: { result: SshResult; gateway: RunningProgram }[] = [];
    const heldResults: Promise<number | null>[] = [];
    /** A session with its pod running on `gateway` (tried again, bounded, when its login drew the unpullable image). */
    const sessionInUse = async (gateway: RunningProgram): Promise<HeldSession> => {
      for (let attempt = 1; ; attempt += 1) {
        const held = await holdSession({ port: gateway.port, username: world.username, password: world.password, command: 'echo in; read -r _' });
        try {
          await held.waitFor('in', 90_000);
          return held;
        } catch (error) {
          held.release();
          await held.closed;
          if (attempt >= 3 || !/KUBERNETES_IMAGE_PULL_FAILED/.test(held.stderr())) throw error;
        }
      }
    };
    let started = 0;
    let replacing: Promise<void> = Promise.resolve();
    const worker = async () => {
      while (started < CONNECTIONS) {
        const index = started++;
        if (killAt.has(index)) {
          // Only ever one instance down at a time: a kill waits for the previous one's replacement.
          await replacing;
          const [victim] = gateways.splice(Math.floor(Math.random() * gateways.length), 1);
          // The kill lands mid-session: the victim has a pod in use that only a reaper can remove.
          const held = await sessionInUse(victim!);
          victim!.process.kill('SIGKILL');
          held.release();
          heldResults.push(held.closed);
          killed.add(victim!);
          killedIds.add(await instanceOf(victim!));
          // Meanwhile the survivor takes every new connection, as behind a load balancer.
          replacing = world.startAnotherGateway().then((replacement) => void gateways.push(replacement));
        }
        const gateway = gateways[index % gateways.length]!;
        const result = await runSsh({ port: gateway.port, username: world.username, password: world.password, command: 'echo ok; sleep 0.2', timeoutMs: 90_000 });
        results.push({ result, gateway });
      }
    };
    const runStarted = Date.now();
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    await replacing;
    const runMs = Date.now() - runStarted;

    const ok = results.filter(({ result }) => result.code === 0 && result.stdout === 'ok\n').length;
    const pullRefused = results.filter(({ result }) =>
      /^portcullis: Could not start your session: its image portcullis\/unpullable:chaos could not be pulled\. \(KUBERNETES_IMAGE_PULL_FAILED\)\r?$/m.test(result.stderr),
    ).length;
    // Anything else must be a connection the kill -9 of its gateway cut.
    const unexplained = results.filter(({ result, gateway }) => !(result.code === 0 && result.stdout === 'ok\n') && !/KUBERNETES_IMAGE_PULL_FAILED/.test(result.stderr) && !killed.has(gateway));
    const cut = results.length - ok - pullRefused;
    assert.equal(results.length, CONNECTIONS, 'every connection ended (none hung past its bound)');
    assert.deepEqual(
      unexplained.map(({ result }) => `${result.code}: ${result.stderr.trim().split('\n').pop()}`),
      [],
      'every failure is an unpullable image or a connection to a killed gateway',
    );
    assert.ok(pullRefused >= 1, 'unpullable images were refused with their message');
    assert.ok(ok >= CONNECTIONS * 0.5, `most sessions worked (${ok})`);
    assert.ok(
      results.every(({ result }) => !/\n\s+at \S+ \(/.test(result.stderr)),
      'no stack trace reached a user',
    );

    // Only the surviving and restarted instances run now: their reapers remove the killed ones' pods.
    const endedAt = Date.now();
    const left = await kube.waitForNoPods(60_000);
    const reapedMs = Date.now() - endedAt;
    // Reaped by whichever instance was alive then (it may itself have been killed later).
    const reaped = [...gateways, ...killed].flatMap((gateway) => gateway.logs.filter((line) => line.code === 'KUBERNETES_POD_REAPED'));
    t.diagnostic(
      `${results.length} connections over ${gateways.length + killed.size} instances, ${killed.size} kill -9 in ${runMs} ms: ${ok} served, ` +
        `${pullRefused} refused for the image, ${cut} cut by a kill, plus ${heldResults.length} sessions in use at the kills; ${reaped.length} pods reaped by other instances; ${left.length} pods left ${reapedMs} ms after the run`,
    );
    assert.deepEqual(left, [], `zero pods left in ${SESSION_NAMESPACE} within 60 s`);
    // A deleted pod's container goes with it, on the API server's side.
    let containers = await kube.kube.containerIds();
    while (containers.length > 0 && Date.now() < endedAt + 60_000) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      containers = await kube.kube.containerIds();
    }
    assert.deepEqual(containers, [], 'no pod container left');
    for (const line of reaped) {
      // A live instance reaps another's pods only once that one's heartbeat stopped: a killed one.
      if (line.why !== 'stray of this instance') assert.ok(killedIds.has(String(line.owner)), `only a killed instance's pods were reaped (${String(line.owner)})`);
    }
    for (const id of killedIds)
      assert.ok(
        reaped.some((line) => line.owner === id),
        `the pod in use when ${id} was killed was reaped by a live instance`,
      );
    assert.ok(
      (await Promise.all(heldResults)).every((code) => code !== 0),
      'each session in use at a kill was cut, not reported as a success',
    );
    for (const gateway of gateways) assert.equal(gateway.process.exitCode, null, 'the live instances are still running');
    for (const gateway of killed) if (gateway.process.exitCode === null && gateway.process.signalCode === null) await once(gateway.process, 'exit');
  });
});
