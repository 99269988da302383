import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { holdSession } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { inspectContainer, listSessionContainers, waitForNoSessionContainers } from '../helpers/docker.ts';
import { E2E } from '../helpers/deadlines.ts';

describe('the session container is hardened with zero configuration', () => {
  let world: World;
  before(async () => {
    world = await startWorld();
  });
  after(async () => {
    await world.stop();
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId), []);
  });

  test('inside: no capabilities, no new privileges, seccomp on, read-only root, writable /tmp and home', E2E, async () => {
    const session = await holdSession({
      port: world.sshPort,
      username: world.username,
      password: world.password,
      command: [
        'grep -E "^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status',
        'touch /etc/probe 2>/dev/null && echo etc-writable || echo etc-readonly',
        'touch /tmp/probe && echo tmp-writable',
        'touch "$HOME/probe" && echo home-writable',
        'echo READY; read line',
      ].join('; '),
    });
    await session.waitFor('READY');
    const containers = await listSessionContainers(world.instanceId);
    assert.equal(containers.length, 1, 'one container for the one connection');
    const inspected = await inspectContainer(containers[0]!);
    session.release();
    assert.equal(await session.closed, 0);

    const inside = session.stdout();
    assert.match(inside, /CapEff:\s+0000000000000000/);
    assert.match(inside, /CapPrm:\s+0000000000000000/);
    assert.match(inside, /CapBnd:\s+0000000000000000/);
    assert.match(inside, /NoNewPrivs:\s+1/);
    assert.match(inside, /Seccomp:\s+2/, 'seccomp filter mode');
    assert.match(inside, /etc-readonly/);
    assert.match(inside, /tmp-writable/);
    assert.match(inside, /home-writable/);

    const host = inspected.HostConfig;
    assert.equal(host.ReadonlyRootfs, true);
    assert.deepEqual(host.CapDrop, ['ALL']);
    assert.equal(host.CapAdd, null);
    assert.equal(host.Privileged, false);
    const securityOpt = host.SecurityOpt ?? [];
    assert.ok(securityOpt.some((option) => /^no-new-privileges(:true)?$/.test(option)));
    assert.ok(!securityOpt.some((option) => /seccomp[:=]unconfined/.test(option)));
    assert.ok((host.PidsLimit ?? 0) > 0, 'pids limit');
    assert.ok(host.Memory > 0, 'memory limit');
    assert.ok(host.NanoCpus > 0, 'cpu limit');
    assert.ok(host.Tmpfs && '/tmp' in host.Tmpfs && '/home/user' in host.Tmpfs, 'tmpfs /tmp and home');
    for (const namespace of ['PidMode', 'IpcMode', 'UTSMode', 'UsernsMode', 'CgroupnsMode'] as const) {
      assert.notEqual(host[namespace] ?? '', 'host', `${namespace} is not the host's`);
    }
    assert.notEqual(host.NetworkMode, 'host');
    assert.match(inspected.Config.User, /^[1-9]\d*(:\d+)?$/, 'non-root user');
    assert.equal(inspected.Config.Labels['containerssh.io/session'], 'true');
  });
});
