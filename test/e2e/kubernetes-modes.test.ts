import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hardenedPod, worldWithPod, type KubeWorld } from '../helpers/kubernetes.ts';
import { openSharedConnection, runSsh } from '../helpers/ssh-client.ts';

const login = ({ world }: KubeWorld, command: string, stdin?: string) =>
  runSsh({ port: world.sshPort, username: world.username, password: world.password, command, ...(stdin !== undefined ? { stdin } : {}) });

const share = ({ world }: KubeWorld) => openSharedConnection({ port: world.sshPort, username: world.username, password: world.password });

describe('Kubernetes backend modes', () => {
  test('connection mode: a shell in the pod, stdin EOF, exit codes, stderr apart; two sessions share one pod; deleted at the end', async (t) => {
    const kube = await worldWithPod(t, hardenedPod({ mode: 'connection' }));
    const piped = await login(kube, 'cat; echo oops >&2; exit 3', 'through stdin\n');
    assert.equal(piped.code, 3, piped.stderr);
    assert.equal(piped.stdout, 'through stdin\n');
    assert.match(piped.stderr, /oops/);
    assert.match(piped.stderr, /Creating your session pod/, 'progress lines reach the client');

    const connection = await share(kube);
    t.after(() => connection.close());
    const first = await connection.run('cat /etc/hostname; id -u; echo shared > /tmp/mark');
    const second = await connection.run('cat /etc/hostname; cat /tmp/mark');
    assert.equal(first.code, 0, first.stderr);
    const [host, uid] = first.stdout.split('\n');
    assert.equal(uid, '1000', 'runs as the pod securityContext user');
    assert.equal(second.stdout, `${host}\nshared\n`);
    assert.equal(kube.sessionPods().length, 1, 'one pod for the connection');
    const created = kube.kube.received.filter((entry) => entry.resource === 'pods');
    assert.ok(created.length >= 1);
    await connection.close();
    assert.deepEqual(await kube.waitForNoPods(), []);
  });
});
