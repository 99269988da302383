import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { hardenedPod, SESSION_NAMESPACE, worldWithPod, type KubeWorld } from '../helpers/kubernetes.ts';
import { holdSession, runSsh } from '../helpers/ssh-client.ts';
import { E2E } from '../helpers/deadlines.ts';
import { pollUntilOrLast } from '../helpers/poll-until.ts';

const IDLE_TIMEOUT_S = 3;
const REAP_INTERVAL_S = 1;

function annotationsOf(kube: KubeWorld, name: string): Record<string, string> | undefined {
  const pod = kube.kube.pods(SESSION_NAMESPACE).find((item) => item.metadata.name === name && !(item.metadata as { deletionTimestamp?: string }).deletionTimestamp);
  return pod ? ((pod.metadata as { annotations?: Record<string, string> }).annotations ?? {}) : undefined;
}

/** Polls until `done`, at most `ms`; returns whether it held. */
async function until(done: () => boolean, ms: number): Promise<boolean> {
  return pollUntilOrLast(done, { what: 'the pod annotations to change', until: (held) => held, timeoutMs: ms });
}

describe('persistent pods: never reaped while a session is attached, deleted once idle past their timeout', () => {
  test('two gateway instances: kept while a session of either is attached past the timeout, deleted after the last one leaves; a crashed instance stops counting', E2E, async (t) => {
    const podName = `idle-${process.pid}`;
    const kube = await worldWithPod(t, hardenedPod({ mode: 'persistent', podName, createMissingPods: true, persistentIdleTimeout: `${IDLE_TIMEOUT_S}s` }), {
      gateway: { heartbeatInterval: '1s', heartbeatTimeout: '4s', reapInterval: `${REAP_INTERVAL_S}s` },
    });
    const { world } = kube;
    const second = await world.startAnotherGateway();
    const secondId = String((await second.waitForCode('SSH_AVAILABLE')).instanceId);
    const through = (port: number, command: string) => holdSession({ port, username: world.username, password: world.password, command });

    // A session through the first instance, held well past the idle timeout while both instances reap.
    const held = await through(world.sshPort, 'echo attached; read -r _');
    t.after(() => held.release());
    await held.waitFor('attached', 90_000);
    assert.equal(annotationsOf(kube, podName)?.[`attached.portcullis.io/${world.instanceId}`], '1', 'the attachment is on the pod for every instance to see');
    assert.equal(annotationsOf(kube, podName)?.['portcullis.io/idle-timeout-seconds'], String(IDLE_TIMEOUT_S));
    // Not a timed assertion: the pod must simply still be there after both reapers had many chances.
    const attachedUntil = Date.now() + (IDLE_TIMEOUT_S + 4 * REAP_INTERVAL_S) * 1000;
    const vanished = await until(() => annotationsOf(kube, podName) === undefined, attachedUntil - Date.now());
    assert.equal(vanished, false, 'the pod was deleted while a session was attached');

    // A second connection through the other instance, then the first leaves: still attached.
    const other = await through(second.port, 'echo also; read -r _');
    t.after(() => other.release());
    await other.waitFor('also', 90_000);
    held.release();
    assert.equal(await held.closed, 0);
    assert.ok(await until(() => annotationsOf(kube, podName)?.[`attached.portcullis.io/${world.instanceId}`] === undefined, 30_000), 'the detach is recorded');
    assert.equal(annotationsOf(kube, podName)?.[`attached.portcullis.io/${secondId}`], '1');
    const stillAttachedUntil = Date.now() + (IDLE_TIMEOUT_S + 4 * REAP_INTERVAL_S) * 1000;
    assert.equal(await until(() => annotationsOf(kube, podName) === undefined, stillAttachedUntil - Date.now()), false, "the first instance's reaper left the second's attachment alone");

    // The last session leaves: the pod goes within the timeout plus a few sweeps (bounded wait, time reported).
    other.release();
    assert.equal(await other.closed, 0);
    const detachedAt = Date.now();
    assert.ok(await until(() => kube.sessionPods().length === 0, 60_000), 'the idle pod was deleted');
    t.diagnostic(`idle persistent pod (timeout ${IDLE_TIMEOUT_S} s) deleted ${Date.now() - detachedAt} ms after the last session left`);
    // The reaper logs after its delete returns, so the line may arrive just after the pod is gone.
    const expiredLine = () => [...world.gateway.logs, ...second.logs].find((line) => line.code === 'KUBERNETES_PERSISTENT_POD_EXPIRED');
    await until(() => expiredLine() !== undefined, 15_000);
    assert.equal(expiredLine()?.pod, podName);

    assert.deepEqual(await kube.waitForNoPods(), [], 'gone, not only terminating');
    // Recreated on the next login; then the instance holding it is killed: its attachment expires with its Lease.
    const again = await through(world.sshPort, 'echo back; read -r _');
    t.after(() => again.release());
    await again.waitFor('back', 90_000);
    world.gateway.process.kill('SIGKILL');
    await once(world.gateway.process, 'exit');
    const killedAt = Date.now();
    assert.ok(await until(() => kube.sessionPods().length === 0, 60_000), "the dead instance's attachment stopped counting");
    t.diagnostic(`persistent pod of a killed instance deleted ${Date.now() - killedAt} ms after kill -9 (heartbeat timeout 4 s + idle timeout ${IDLE_TIMEOUT_S} s)`);
    const expiredBySecond = () => second.logs.some((line) => line.code === 'KUBERNETES_PERSISTENT_POD_EXPIRED' && line.pod === podName && (line.idleSeconds as number) >= IDLE_TIMEOUT_S);
    assert.ok(await until(expiredBySecond, 15_000), 'the live instance logged the expiry');

    // A login after it still works: the pod is created again.
    const fresh = await runSsh({ port: second.port, username: world.username, password: world.password, command: 'echo fresh' });
    assert.equal(fresh.code, 0, fresh.stderr);

    // An attachment that cannot be recorded (RBAC without `patch`) refuses the login: unrecorded,
    // another instance could delete the pod under the session.
    kube.kube.controls.deny('patch', 'pods');
    const unrecorded = await runSsh({ port: second.port, username: world.username, password: world.password, command: 'echo in' });
    assert.equal(unrecorded.code, 1);
    assert.equal(unrecorded.stdout, '');
    assert.match(unrecorded.stderr, /^portcullis: Could not start your session: its persistent pod could not be marked as in use\. \(KUBERNETES_PERSISTENT_POD_ATTACH_FAILED\)\r?$/m);
  });
});
