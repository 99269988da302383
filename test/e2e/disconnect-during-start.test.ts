import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { waitForNoSessionContainers } from '../helpers/docker.ts';
import { opensshInvocation, runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { E2E } from '../helpers/deadlines.ts';
import { pollUntilOrLast } from '../helpers/poll-until.ts';

/**
 * A client that goes away while its container is being created or started must leave nothing
 * behind: the gateway finishes or abandons the start, then removes what it made.
 */
describe('a client that disconnects while its container starts leaves no container', () => {
  let world: World;
  before(async () => {
    world = await startWorld();
  });
  after(() => world.stop());

  test('killed at container creation, and a little later, five times: zero containers left, the gateway still serves', E2E, async (t) => {
    const delays = [0, 50, 150, 400, 800];
    for (const [index, delay] of delays.entries()) {
      const { args, env, dir } = await opensshInvocation({ port: world.sshPort, username: world.username, password: world.password, command: 'sleep 600' });
      const child = spawn('ssh', args, { env, stdio: 'ignore' });
      const exited = once(child, 'close');
      // Wait for this attempt's DOCKER_CONTAINER_CREATE line, bounded.
      const deadline = Date.now() + 60_000;
      await pollUntilOrLast(() => world.gateway.logs.filter((line) => line.code === 'DOCKER_CONTAINER_CREATE').length, {
        what: `attempt ${index}'s DOCKER_CONTAINER_CREATE`,
        until: (creates) => creates > index,
        timeoutMs: deadline - Date.now(),
        intervalMs: 10,
      });
      assert.ok(Date.now() < deadline, `attempt ${index}: the gateway began creating a container`);
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      child.kill('SIGKILL');
      await exited;
      await rm(dir, { recursive: true, force: true });
      assert.deepEqual(await waitForNoSessionContainers(world.instanceId, 60_000), [], `attempt ${index} (killed ${delay} ms after create): no container left`);
    }
    const after = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'echo still-serving' });
    assert.equal(after.code, 0, after.stderr);
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId, 60_000), []);
    t.diagnostic(`${delays.length} clients killed during container start: 0 containers left`);
  });
});
