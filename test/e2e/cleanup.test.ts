import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { waitForNoSessionContainers, waitForSessionContainers } from '../helpers/docker.ts';
import { opensshInvocation, runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { E2E } from '../helpers/deadlines.ts';

describe('when the SSH connection ends, its container is gone', () => {
  let world: World;
  before(async () => {
    world = await startWorld();
  });
  after(() => world.stop());

  const ssh = (command: string, port = world.sshPort) => runSsh({ port, username: world.username, password: world.password, command });

  test('20 sequential and 10 concurrent connections leave zero containers', E2E, async () => {
    for (let i = 0; i < 20; i += 1) {
      const result = await ssh(`echo seq-${i}`);
      assert.equal(result.stdout, `seq-${i}\n`, result.stderr);
    }
    const concurrent = await Promise.all(Array.from({ length: 10 }, (_, i) => ssh(`echo par-${i}`)));
    concurrent.forEach((result, i) => {
      assert.equal(result.stdout, `par-${i}\n`, result.stderr);
    });
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId), []);
  });

  test('a client killed mid-session leaves no container', E2E, async () => {
    const { args, env } = await opensshInvocation({
      port: world.sshPort,
      username: world.username,
      password: world.password,
      command: 'sleep 600',
    });
    const child = spawn('ssh', args, { env, stdio: 'ignore' });
    await waitForSessionContainers(world.instanceId, 1);
    child.kill('SIGKILL');
    await once(child, 'close');
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId), []);
  });

  test('a network cut (connection reset mid-session) leaves no container', E2E, async (t) => {
    // A loopback relay between client and gateway that the test can cut.
    const relayed = new Set<Socket>();
    const relay = createServer((inbound) => {
      const outbound = connect(world.sshPort, '127.0.0.1');
      relayed.add(inbound).add(outbound);
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
    });
    relay.listen(0, '127.0.0.1');
    await once(relay, 'listening');
    t.after(() => relay.close());
    const address = relay.address();
    const relayPort = typeof address === 'object' && address ? address.port : 0;
    const session = ssh('sleep 600', relayPort);
    await waitForSessionContainers(world.instanceId, 1);
    for (const socket of relayed) socket.resetAndDestroy();
    const result = await session;
    assert.equal(result.code, 255, 'the client saw the connection die');
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId), []);
  });
});
