import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { listSessionContainers, waitForNoSessionContainers } from '../helpers/docker.ts';
import { hardenedExecution, worldWithExecution } from '../helpers/fake-config.ts';
import { openSharedConnection, runSsh } from '../helpers/ssh-client.ts';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { throughLocalForward } from '../helpers/forwarding.ts';
import type { World } from '../helpers/world.ts';
import { E2E } from '../helpers/deadlines.ts';

const run = promisify(execFile);

const login = (world: World, command: string) => runSsh({ port: world.sshPort, username: world.username, password: world.password, command });

const share = (world: World) => openSharedConnection({ port: world.sshPort, username: world.username, password: world.password });

describe('Docker backend modes', () => {
  test('connection mode: two sessions on one connection share one container', E2E, async (t) => {
    const { world } = await worldWithExecution(t, hardenedExecution({ mode: 'connection' }));
    const connection = await share(world);
    t.after(() => connection.close());
    const first = await connection.run('cat /etc/hostname; echo shared > /tmp/mark');
    const second = await connection.run('cat /etc/hostname; cat /tmp/mark');
    assert.equal(first.code, 0, first.stderr);
    const [firstHost] = first.stdout.split('\n');
    assert.equal(second.stdout, `${firstHost}\nshared\n`);
    assert.equal((await listSessionContainers(world.instanceId)).length, 1);
    await connection.close();
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId), []);
  });

  test('session mode: each session gets its own container, removed when the session ends', E2E, async (t) => {
    const { world } = await worldWithExecution(t, hardenedExecution({ mode: 'session' }));
    const connection = await share(world);
    t.after(() => connection.close());
    const first = await connection.run('cat /etc/hostname; echo first > /tmp/mark');
    const second = await connection.run('cat /etc/hostname; cat /tmp/mark 2>/dev/null || echo no-mark');
    assert.equal(first.code, 0, first.stderr);
    const [firstHost] = first.stdout.split('\n');
    const [secondHost, mark] = second.stdout.split('\n');
    assert.notEqual(secondHost, firstHost, 'a second container');
    assert.equal(mark, 'no-mark', 'nothing carried over from the first session');
    // Both sessions ended while the connection is still open: their containers are gone.
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId), []);
  });

  test('persistent mode: refused when missing, created with createMissingContainers, the same box on the next connection', E2E, async (t) => {
    const name = `portcullis-test-persistent-${process.pid}`;
    t.after(() => run('docker', ['rm', '-f', name]).catch(() => undefined));
    const { world, setExecution } = await worldWithExecution(t, hardenedExecution({ mode: 'persistent', containerName: name }));

    const missing = await login(world, 'true');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /your persistent container does not exist.*DOCKER_PERSISTENT_CONTAINER_MISSING/);

    setExecution(hardenedExecution({ mode: 'persistent', containerName: name, createMissingContainers: true }));
    const created = await login(world, 'echo kept > $HOME/mark; cat /etc/hostname');
    assert.equal(created.code, 0, created.stderr);
    const again = await login(world, 'cat $HOME/mark; cat /etc/hostname');
    assert.equal(again.stdout, `kept\n${created.stdout}`);
    const { stdout } = await run('docker', ['inspect', '-f', '{{.State.Running}}', name]);
    assert.equal(stdout.trim(), 'true', 'the persistent container outlives its connections');
  });

  test('persistent mode never adopts a container Portcullis did not create', E2E, async (t) => {
    const name = `portcullis-test-foreign-${process.pid}`;
    await run('docker', ['run', '-d', '--name', name, 'portcullis/session:dev', 'sleep', '600']);
    t.after(() => run('docker', ['rm', '-f', name]).catch(() => undefined));
    const { world } = await worldWithExecution(t, hardenedExecution({ mode: 'persistent', containerName: name, createMissingContainers: true }));
    const result = await login(world, 'true');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /exists but is not managed by Portcullis.*DOCKER_PERSISTENT_CONTAINER_FOREIGN/);
  });

  test('client env requests and port forwards are refused for containers until a policy allows them', E2E, async (t) => {
    const { world } = await worldWithExecution(t, hardenedExecution());
    const result = await runSsh({
      port: world.sshPort,
      username: world.username,
      password: world.password,
      command: 'echo "[$LD_PRELOAD]"',
      extraArgs: ['-o', 'SetEnv=LD_PRELOAD=/tmp/evil.so'],
    });
    assert.equal(result.stdout, '[]\n', result.stderr);
    const service = createServer((socket) => socket.pipe(socket));
    service.listen(0, '127.0.0.1');
    await once(service, 'listening');
    t.after(() => service.close());
    // The client's local listener opens, but the gateway refuses the channel: nothing comes back.
    assert.equal(await throughLocalForward(world, (service.address() as AddressInfo).port, t), '');
    await world.gateway.waitForCode('SSH_FORWARD_REJECTED');
  });
});
