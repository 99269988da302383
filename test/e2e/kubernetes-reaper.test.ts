import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { hardenedPod, worldWithPod } from '../helpers/kubernetes.ts';
import { holdSession, runSsh } from '../helpers/ssh-client.ts';
import { E2E } from '../helpers/deadlines.ts';
import { pollUntilOrLast } from '../helpers/poll-until.ts';

describe('Kubernetes pods never outlive their gateway', () => {
  test('kill -9 of the gateway mid-session, then a restart: its pods are gone within 60 s, persistent pods stay', E2E, async (t) => {
    const podName = `kept-${process.pid}`;
    const kube = await worldWithPod(t, hardenedPod({ mode: 'persistent', podName, createMissingPods: true }), {
      gateway: { heartbeatInterval: '2s', heartbeatTimeout: '10s', reapInterval: '2s' },
    });
    const { world } = kube;
    const persistent = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'echo made' });
    assert.equal(persistent.code, 0, persistent.stderr);

    kube.setPod(hardenedPod({ mode: 'connection' }));
    const held = await holdSession({ port: world.sshPort, username: world.username, password: world.password, command: 'echo in; read -r _' });
    t.after(() => held.release());
    await held.waitFor('in', 60_000);
    assert.equal(kube.sessionPods().length, 2);

    world.gateway.process.kill('SIGKILL');
    await once(world.gateway.process, 'exit');
    const restarted = await world.startAnotherGateway();
    const restartedId = String((await restarted.waitForCode('SSH_AVAILABLE')).instanceId);
    assert.notEqual(restartedId, world.instanceId);

    const killedAt = Date.now();
    await pollUntilOrLast(() => kube.sessionPods(), { what: 'only the persistent pod left', until: (pods) => pods.length <= 1, timeoutMs: killedAt + 60_000 - Date.now(), intervalMs: 200 });
    assert.deepEqual(kube.sessionPods(), [podName], 'only the persistent pod is left');
    const reaped = await restarted.waitForCode('KUBERNETES_POD_REAPED');
    assert.equal(reaped.owner, world.instanceId, 'the restarted instance reaped the dead one');
    t.diagnostic(`session pod reaped ${Date.now() - killedAt} ms after the restart finished`);
  });
});
