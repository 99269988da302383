import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { hardenedPod, SESSION_NAMESPACE, worldWithPod } from '../helpers/kubernetes.ts';
import { opensshInvocation, runSsh } from '../helpers/ssh-client.ts';
import { E2E } from '../helpers/deadlines.ts';
import { pollUntilOrLast } from '../helpers/poll-until.ts';

/**
 * The Kubernetes counterpart of disconnect-during-start.test.ts: a client that goes away while
 * its pod is still starting must not leave the pod waiting out the start timeout.
 */
describe('a client that disconnects while its pod starts leaves no pod', () => {
  test('killed while the pod is held in ContainerCreating: the start stops, the pod is deleted long before the start timeout, and it is logged and counted', E2E, async (t) => {
    // The pod would wait 10 minutes to start; the gateway would wait 60 s for it.
    const kube = await worldWithPod(t, hardenedPod(), { server: { startDelayMs: 600_000 }, sections: { metrics: { listen: '127.0.0.1:0' } } });
    const { world } = kube;
    for (const attempt of [1, 2]) {
      const { args, env, dir } = await opensshInvocation({ port: world.sshPort, username: world.username, password: world.password, command: 'echo never' });
      const child = spawn('ssh', args, { env, stdio: 'ignore' });
      const exited = once(child, 'close');
      // Until this attempt's pod exists and waits in ContainerCreating (bounded).
      const deadline = Date.now() + 60_000;
      const waiting = () => world.gateway.logs.filter((line) => line.code === 'KUBERNETES_POD_WAIT').length >= attempt;
      await pollUntilOrLast(() => waiting() && kube.sessionPods().length > 0, {
        what: `attempt ${attempt}'s pod waiting to start`,
        until: (started) => started,
        timeoutMs: deadline - Date.now(),
        intervalMs: 50,
      });
      assert.ok(waiting() && kube.sessionPods().length === 1, `attempt ${attempt}: the pod was created and is starting`);
      const phase = (kube.kube.pods(SESSION_NAMESPACE)[0]?.status as { phase?: string } | undefined)?.phase;
      assert.equal(phase, 'Pending', 'still starting when the client leaves');

      child.kill('SIGKILL');
      await exited;
      await rm(dir, { recursive: true, force: true });
      // Well inside the 60 s start timeout: only the client's departure can have removed it.
      assert.deepEqual(await kube.waitForNoPods(30_000), [], `attempt ${attempt}: no pod left`);
      // The pod is deleted before the failed start is logged; wait for the line, bounded.
      await pollUntilOrLast(() => world.gateway.logs.filter((line) => line.code === 'KUBERNETES_POD_START_ABANDONED').length, {
        what: `attempt ${attempt}'s abandoned start logged`,
        until: (count) => count >= attempt,
        timeoutMs: 10_000,
        intervalMs: 50,
      });
    }
    const abandoned = world.gateway.logs.filter((line) => line.code === 'KUBERNETES_POD_START_ABANDONED');
    assert.equal(abandoned.length, 2, 'each abandoned start is logged under its own code');
    assert.equal(abandoned[0]?.level, 'info', 'at info: a client leaving is no backend failure');

    const ops = world.gateway.logs.find((line) => line.code === 'GATEWAY_OPS_LISTENING');
    const metrics = await (await fetch(`http://127.0.0.1:${Number(ops?.port)}/metrics`)).text();
    assert.match(metrics, /portcullis_backend_failures_total\{backend="kubernetes",reason="KUBERNETES_POD_START_ABANDONED"\} 2/);

    // The gateway still serves once pods start again.
    kube.kube.controls.setStartDelay(0);
    const after = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'echo still-serving' });
    assert.equal(after.code, 0, after.stderr);
    assert.equal(after.stdout, 'still-serving\n');
    assert.deepEqual(await kube.waitForNoPods(), []);
  });
});
