import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execIn, isRunning, sessionPod, watchPodUntil, serverForSuite } from './client.ts';
import { inspectContainer } from '../helpers/docker.ts';

const NS = 'hardened';

describe('test kube-apiserver: a pod container honours securityContext, resources and emptyDir', () => {
  const suite = serverForSuite(NS);

  it('applies user, groups, read-only root, no capabilities, no-new-privileges, seccomp, limits and tmpfs emptyDirs', async () => {
    const pod = sessionPod('locked', {
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 1234,
        runAsGroup: 2345,
        fsGroup: 3456,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      volumes: [
        { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
        { name: 'home', emptyDir: {} },
      ],
    });
    const container = pod.spec!.containers[0]!;
    container.volumeMounts = [
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'home', mountPath: '/home/user' },
    ];
    container.env = [
      { name: 'GREETING', value: 'hi' },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ];
    container.workingDir = '/home/user';
    await suite.clients.core.createNamespacedPod({ namespace: NS, body: pod });
    await watchPodUntil(suite.clients, NS, 'locked', isRunning);

    const id = await execIn(suite.clients, NS, 'locked', ['sh', '-c', 'id -u; id -g; id -G; pwd; echo "$GREETING $POD_NAME"']);
    const [uid, gid, groups, cwd, env] = id.stdout.trim().split('\n');
    assert.equal(uid, '1234');
    assert.equal(gid, '2345');
    assert.ok(groups!.split(' ').includes('3456'), `fsGroup is a supplementary group: ${groups}`);
    assert.equal(cwd, '/home/user');
    assert.equal(env, 'hi locked');

    const status = await execIn(suite.clients, NS, 'locked', ['sh', '-c', 'grep -E "^(CapEff|CapPrm|NoNewPrivs|Seccomp):" /proc/self/status']);
    const fields = Object.fromEntries(
      status.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/:\s+/) as [string, string]),
    );
    assert.equal(fields.CapEff, '0000000000000000');
    assert.equal(fields.CapPrm, '0000000000000000');
    assert.equal(fields.NoNewPrivs, '1');
    assert.equal(fields.Seccomp, '2', 'RuntimeDefault is a filtering seccomp profile');

    const root = await execIn(suite.clients, NS, 'locked', ['sh', '-c', 'touch /etc/x']);
    assert.match(root.stderr, /Read-only file system/);
    assert.equal(root.status.status, 'Failure');
    const writable = await execIn(suite.clients, NS, 'locked', ['sh', '-c', 'touch /tmp/x /home/user/y && echo ok']);
    assert.equal(writable.stdout, 'ok\n', writable.stderr);

    const inspected = await inspectContainer(suite.server.containerIdOf(NS, 'locked')!);
    assert.equal(inspected.Config.User, '1234:2345');
    assert.equal(inspected.HostConfig.ReadonlyRootfs, true);
    assert.deepEqual(inspected.HostConfig.CapDrop, ['ALL']);
    assert.deepEqual(inspected.HostConfig.SecurityOpt, ['no-new-privileges']);
    assert.equal(inspected.HostConfig.Memory, 128 * 1024 * 1024);
    assert.equal(inspected.HostConfig.NanoCpus, 500_000_000);
    assert.equal(inspected.HostConfig.NetworkMode, 'none');
    assert.match(inspected.HostConfig.Tmpfs?.['/tmp'] ?? '', /size=16777216/);
    assert.ok(inspected.HostConfig.Tmpfs?.['/home/user'] !== undefined);
    assert.equal(inspected.Config.Labels['io.kubernetes.pod.name'], 'locked');
    assert.equal(inspected.Config.Labels['io.portcullis.kube-apiserver.instance'], suite.server.instanceId);
  });

  it('runs Unconfined without a seccomp profile, as a kubelet does by default', async () => {
    const pod = sessionPod('loose', { securityContext: {} });
    pod.spec!.containers[0]!.securityContext = {};
    await suite.clients.core.createNamespacedPod({ namespace: NS, body: pod });
    await watchPodUntil(suite.clients, NS, 'loose', isRunning);
    const status = await execIn(suite.clients, NS, 'loose', ['sh', '-c', 'grep -E "^Seccomp:" /proc/self/status; id -u']);
    assert.equal(status.stdout, 'Seccomp:\t0\n1000\n', 'image user 1000, no seccomp filter');
  });

  it('refuses to start a container whose runAsNonRoot the user breaks (CreateContainerConfigError)', async () => {
    const pod = sessionPod('rooty', { securityContext: { runAsNonRoot: true, runAsUser: 0 } });
    await suite.clients.core.createNamespacedPod({ namespace: NS, body: pod });
    const { last } = await watchPodUntil(suite.clients, NS, 'rooty', (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError');
    assert.equal(last?.status?.phase, 'Pending');
    assert.match(last?.status?.containerStatuses?.[0]?.state?.waiting?.message ?? '', /^container's runAsUser breaks non-root policy/);
    assert.equal(suite.server.containerIdOf(NS, 'rooty'), undefined, 'no container was created');
  });

  it('reports a finished container as Succeeded or Failed with its exit code', async () => {
    const ok = sessionPod('job-ok');
    ok.spec!.containers[0]!.command = ['sh', '-c', 'exit 0'];
    const bad = sessionPod('job-bad');
    bad.spec!.containers[0]!.command = ['sh', '-c', 'exit 4'];
    await suite.clients.core.createNamespacedPod({ namespace: NS, body: ok });
    await suite.clients.core.createNamespacedPod({ namespace: NS, body: bad });
    const done = (p: { status?: { phase?: string } }) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
    const a = await watchPodUntil(suite.clients, NS, 'job-ok', done);
    const b = await watchPodUntil(suite.clients, NS, 'job-bad', done);
    assert.equal(a.last?.status?.phase, 'Succeeded');
    assert.equal(a.last?.status?.containerStatuses?.[0]?.state?.terminated?.reason, 'Completed');
    assert.equal(b.last?.status?.phase, 'Failed');
    assert.equal(b.last?.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 4);
    assert.equal(b.last?.status?.containerStatuses?.[0]?.state?.terminated?.reason, 'Error');
  });
});
