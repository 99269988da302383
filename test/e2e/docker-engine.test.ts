import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { listSessionContainers, waitForNoSessionContainers, waitForSessionContainers } from '../helpers/docker.ts';
import { hardenedExecution, worldWithExecution } from '../helpers/fake-config.ts';
import { pollUntil } from '../helpers/poll-until.ts';
import { opensshInvocation, runSsh } from '../helpers/ssh-client.ts';
import { startRegistry } from '../helpers/registry.ts';
import type { World } from '../helpers/world.ts';
import { E2E } from '../helpers/deadlines.ts';

const run = promisify(execFile);

const login = (world: World, command: string) => runSsh({ port: world.sshPort, username: world.username, password: world.password, command });

describe('Docker image pull policies', () => {
  test('IfNotPresent uses a local :latest image and never reaches for a registry', E2E, async (t) => {
    const image = `portcullis/session-latest-test-${process.pid}:latest`;
    await run('docker', ['tag', 'portcullis/session:dev', image]);
    t.after(() => run('docker', ['rmi', image]).catch(() => undefined));
    const { world } = await worldWithExecution(t, hardenedExecution({ imagePullPolicy: 'IfNotPresent', container: { image, user: '1000:1000' } }));
    const result = await login(world, 'echo from-latest');
    assert.equal(result.stdout, 'from-latest\n', result.stderr);
    assert.ok(!world.gateway.logs.some((line) => line.code === 'DOCKER_IMAGE_PULL'), 'no pull was attempted');
  });

  test('Always pulls from a registry, and the user sees progress while it does', E2E, async (t) => {
    const registry = await startRegistry();
    t.after(() => registry.stop());
    const image = await registry.push('portcullis/session:dev', `portcullis/pull-test-${process.pid}:1`);
    const { world } = await worldWithExecution(t, hardenedExecution({ imagePullPolicy: 'Always', container: { image, user: '1000:1000' } }));
    const result = await login(world, 'echo pulled-and-running');
    assert.equal(result.stdout, 'pulled-and-running\n', result.stderr);
    assert.match(result.stderr, new RegExp(`Downloading your session image ${image.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.match(result.stderr, /^ {2}\S.*(Pulling|Download|Pull complete|Already exists|Digest|Status)/m, 'at least one progress line from the engine');
    assert.match(result.stderr, /Session image ready\./);
    await world.gateway.waitForCode('DOCKER_IMAGE_PULL');
  });

  test('Never with a missing image: one line naming the problem, no container', E2E, async (t) => {
    const { world } = await worldWithExecution(t, hardenedExecution({ imagePullPolicy: 'Never', container: { image: 'portcullis/absent:never', user: '1000:1000' } }));
    const result = await login(world, 'true');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /its image is not on this server and may not be downloaded.*DOCKER_IMAGE_MISSING/);
    assert.deepEqual(await listSessionContainers(world.instanceId), []);
  });

  test('Always with an unreachable registry: the download failure is reported, after a progress line', E2E, async (t) => {
    const { world } = await worldWithExecution(t, hardenedExecution({ imagePullPolicy: 'Always', container: { image: '127.0.0.1:9/portcullis/unreachable:1', user: '1000:1000' } }));
    const result = await login(world, 'true');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Downloading your session image 127\.0\.0\.1:9\/portcullis\/unreachable:1/);
    assert.match(result.stderr, /its image could not be downloaded.*DOCKER_IMAGE_PULL_FAILED/);
    assert.deepEqual(await listSessionContainers(world.instanceId), []);
  });
});

describe('Docker failures give one line each and leave nothing behind', () => {
  test('a container that exits at start', E2E, async (t) => {
    const { world } = await worldWithExecution(t, hardenedExecution({ idleCommand: ['/bin/false'] }));
    const result = await login(world, 'true');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /its container stopped as soon as it started.*DOCKER_CONTAINER_EXITED/);
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId), []);
  });

  test('resource limits the engine rejects', E2E, async (t) => {
    const execution = hardenedExecution();
    const { world } = await worldWithExecution(t, { ...execution, host: { ...(execution.host as object), memory: 1024, memorySwap: 1024 } });
    const result = await login(world, 'true');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /the container engine rejected its resource limits.*DOCKER_CONTAINER_CONFIG_REJECTED/);
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId), []);
  });

  test('an engine that cannot be reached', E2E, async (t) => {
    const { world } = await worldWithExecution(t, hardenedExecution(), { gateway: { docker: { socketPath: '/nonexistent/docker.sock' } } });
    const result = await login(world, 'true');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /the container engine cannot be reached.*DOCKER_ENGINE_UNREACHABLE/);
  });
});

describe('no container outlives its gateway', () => {
  test('kill -9 of the gateway mid-session: its containers are gone within 60 s, and a restarted gateway serves again', E2E, async (t) => {
    // The reaper sweeps every second and counts a stopped container abandoned after two.
    const { world } = await worldWithExecution(t, hardenedExecution(), { gateway: { docker: { reapInterval: '1s', reapAfter: '2s' } } });
    const { args, env, dir } = await opensshInvocation({ port: world.sshPort, username: world.username, password: world.password, command: 'sleep 600' });
    t.after(() => run('rm', ['-rf', dir]));
    const sessions = [spawn('ssh', args, { env, stdio: 'ignore' }), spawn('ssh', args, { env, stdio: 'ignore' })];
    t.after(() =>
      sessions.forEach((child) => {
        child.kill('SIGKILL');
      }),
    );
    await waitForSessionContainers(world.instanceId, 2);
    // Mid-session: both programs run. A kill between a container's create and its start would
    // leave a created container that only a live gateway's reaper removes (the case below).
    await pollUntil(() => world.gateway.logs.filter((line) => line.code === 'SESSION_STARTED').length >= 2, { what: 'both sessions started' });

    const killedAt = Date.now();
    world.gateway.process.kill('SIGKILL');
    await once(world.gateway.process, 'exit');
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId, 60_000), [], 'the dead instance left containers');
    t.diagnostic(`containers of the killed gateway gone ${Date.now() - killedAt} ms after kill -9`);

    // A start that failed half-way leaves a created container of a dead owner: a live gateway sweeps it.
    const { stdout: leftover } = await run('docker', [
      'create',
      '--label',
      'app.kubernetes.io/managed-by=portcullis-gateway',
      '--label',
      `portcullis.io/instance=${world.instanceId}`,
      'portcullis/session:dev',
      'true',
    ]);
    t.after(() => run('docker', ['rm', '-f', leftover.trim()]).catch(() => undefined));
    const restarted = await world.startAnotherGateway();
    const swept = await restarted.waitForCode('DOCKER_CONTAINER_REAPED', 60_000);
    assert.equal(swept.owner, world.instanceId);
    assert.deepEqual(await listSessionContainers(world.instanceId), []);
    const result = await runSsh({ port: restarted.port, username: world.username, password: world.password, command: 'echo back' });
    assert.equal(result.stdout, 'back\n', result.stderr);
  });
});

describe('Docker engine over TCP with mutual TLS', () => {
  test('the gateway reaches the engine through a TLS endpoint that requires its client certificate', E2E, async (t) => {
    // A TLS front for the engine's socket, as `dockerd --tlsverify` would offer, on loopback.
    let tlsRelay: ReturnType<typeof createTlsServer> | undefined;
    let relayed = 0;
    const { world } = await worldWithExecution(t, hardenedExecution(), {
      gateway: { docker: { host: 'tcp://localhost:0', tls: { caFile: 'certs/ca.crt', certFile: 'certs/gateway.crt', keyFile: 'certs/gateway.key' } } },
      beforeGatewayStarts: async (certsDir: string) => {
        tlsRelay = createTlsServer(
          {
            cert: await readFile(join(certsDir, 'configserver.crt')),
            key: await readFile(join(certsDir, 'configserver.key')),
            ca: await readFile(join(certsDir, 'ca.crt')),
            requestCert: true,
            rejectUnauthorized: true,
            // The client half-closes to signal stdin EOF; output must still flow back.
            allowHalfOpen: true,
          },
          (secure) => {
            relayed += 1;
            const engine = connect({ path: '/var/run/docker.sock', allowHalfOpen: true });
            secure.on('data', (chunk: Buffer) => engine.write(chunk));
            secure.on('end', () => engine.end());
            engine.on('data', (chunk: Buffer) => secure.write(chunk));
            engine.on('end', () => secure.end());
            secure.on('error', () => engine.destroy());
            engine.on('error', () => secure.destroy());
          },
        );
        tlsRelay.listen(0, '127.0.0.1');
        await once(tlsRelay, 'listening');
        const address = tlsRelay.address();
        return { gateway: { docker: { host: `tcp://localhost:${typeof address === 'object' && address ? address.port : 0}` } } };
      },
    });
    t.after(() => tlsRelay?.close());
    const result = await login(world, 'echo over-tls');
    assert.equal(result.stdout, 'over-tls\n', result.stderr);
    assert.ok(relayed > 0, 'the engine was reached through the TLS endpoint');
  });
});
