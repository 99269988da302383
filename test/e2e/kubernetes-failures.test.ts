import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hardenedPod, SESSION_NAMESPACE, worldWithPod, type KubeWorld } from '../helpers/kubernetes.ts';
import { holdSession, runSsh } from '../helpers/ssh-client.ts';
import { E2E } from '../helpers/deadlines.ts';

const login = ({ world }: KubeWorld, command = 'echo in') => runSsh({ port: world.sshPort, username: world.username, password: world.password, command });

/** What a refused user sees: exit 1, one line naming the problem and its code, no pod left behind. */
async function assertRefused(kube: KubeWorld, message: RegExp, code: string): Promise<void> {
  const result = await login(kube);
  assert.equal(result.code, 1, `${code}: ${result.stdout}`);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, new RegExp(`^portcullis: ${message.source}.* \\(${code}\\)\\r?$`, 'm'));
  assert.doesNotMatch(result.stderr, /at .*\.ts:\d+|Error:/, 'never a stack trace');
  assert.deepEqual(await kube.waitForNoPods(), [], `${code}: no pod left`);
}

describe('Kubernetes failures: one line with a code, nothing left running', () => {
  test('quota, admission webhook, Pod Security, image pull, unschedulable, start timeout, exec forbidden, API unreachable', E2E, async (t) => {
    const kube = await worldWithPod(t, hardenedPod(), { sections: { metrics: { listen: '127.0.0.1:0' } }, gateway: { requestTimeout: '5s' } });
    const { controls } = kube.kube;

    // Quota of 2 pods: two sessions get in, the third is refused with the quota message.
    kube.kube.createResourceQuota(SESSION_NAMESPACE, 'sessions', { pods: '2' });
    const held = [];
    for (const marker of ['first', 'second']) {
      const session = await holdSession({ port: kube.world.sshPort, username: kube.world.username, password: kube.world.password, command: `echo ${marker}; read -r _` });
      t.after(() => session.release());
      await session.waitFor(marker, 60_000);
      held.push(session);
    }
    const third = await login(kube);
    assert.equal(third.code, 1);
    assert.match(third.stderr, /^portcullis: Could not start your session: the session quota is used up .*\(KUBERNETES_QUOTA_EXCEEDED\)\r?$/m);
    assert.equal(kube.sessionPods().length, 2, 'the refused login left no pod');
    for (const session of held) session.release();
    for (const session of held) assert.equal(await session.closed, 0);
    assert.deepEqual(await kube.waitForNoPods(), []);

    controls.setAdmissionWebhook({ name: 'deny-sessions.example.com', review: () => 'session pods are frozen' });
    await assertRefused(kube, /Could not start your session: the cluster's admission policy refused its pod\./, 'KUBERNETES_ADMISSION_DENIED');
    controls.setAdmissionWebhook(undefined);

    // Pod Security `restricted` on the namespace refuses a pod that allows privilege escalation.
    kube.setPod(hardenedPod({}, { securityContext: { allowPrivilegeEscalation: true, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } } }));
    await assertRefused(kube, /Could not start your session: the cluster's admission policy refused its pod\./, 'KUBERNETES_ADMISSION_DENIED');
    kube.setPod(hardenedPod());

    controls.setUnpullable('portcullis/session:dev');
    await assertRefused(kube, /Could not start your session: its image portcullis\/session:dev could not be pulled\./, 'KUBERNETES_IMAGE_PULL_FAILED');
    controls.setUnpullable('portcullis/session:dev', false);

    controls.setNodeCapacity({ cpu: '50m' });
    await assertRefused(kube, /Could not start your session: the cluster has no room for its pod right now\./, 'KUBERNETES_POD_UNSCHEDULABLE');
    controls.setNodeCapacity({ cpu: '64' });

    controls.setStartDelay(60_000);
    kube.setPod(hardenedPod(), { podStart: '3s' });
    await assertRefused(kube, /Could not start your session: its pod did not start within 3 s\./, 'KUBERNETES_POD_START_TIMEOUT');
    controls.setStartDelay(0);
    kube.setPod(hardenedPod());

    controls.deny('create', 'pods/exec');
    await assertRefused(kube, /Could not start the program: the cluster does not allow running commands in your session pod\./, 'KUBERNETES_EXEC_FORBIDDEN');
    controls.deny('create', 'pods/exec', false);

    // Not awaited: the listener stops accepting at once, while the test server's close of its
    // remaining connections may never report back (see the report on test/kube-apiserver).
    void controls.stopListening();
    const unreachable = await login(kube);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /^portcullis: Could not start your session: the Kubernetes cluster cannot be reached\. \(KUBERNETES_API_UNREACHABLE\)\r?$/m);
    assert.deepEqual(await kube.waitForNoPods(), []);

    // Every failure was counted, by its code.
    const ops = kube.world.gateway.logs.find((line) => line.code === 'GATEWAY_OPS_LISTENING');
    const metrics = await (await fetch(`http://127.0.0.1:${Number(ops?.port)}/metrics`)).text();
    const reasons = ['QUOTA_EXCEEDED', 'ADMISSION_DENIED', 'IMAGE_PULL_FAILED', 'POD_UNSCHEDULABLE', 'POD_START_TIMEOUT', 'EXEC_FORBIDDEN', 'API_UNREACHABLE'];
    for (const reason of reasons.map((name) => `KUBERNETES_${name}`)) {
      const times = reason === 'KUBERNETES_ADMISSION_DENIED' ? 2 : 1;
      assert.match(metrics, new RegExp(`portcullis_backend_failures_total\\{backend="kubernetes",reason="${reason}"\\} ${times}`), reason);
    }
    assert.match(metrics, /containerssh_backend_errors_total\{backend="kubernetes"\} 8/);
  });
});
