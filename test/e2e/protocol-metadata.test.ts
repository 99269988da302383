import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import argon2 from 'argon2';
import { stringify } from 'yaml';
import { startFakeWebhook } from '../helpers/fake-webhook.ts';
import { hardenedExecution } from '../helpers/fake-config.ts';
import { startProgram, type RunningProgram } from '../helpers/program.ts';
import { holdSession, runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { listSessionContainers, waitForNoSessionContainers } from '../helpers/docker.ts';
import { E2E } from '../helpers/deadlines.ts';

/**
 * Metadata, environment and files end to end: our authserver answers the login with metadata,
 * an environment variable and a sensitive token file; a ContainerSSH-style config webhook adds
 * an environment variable and a file; the session sees all of it, and no log has a secret.
 */
describe('webhook metadata, environment and files reach the session, secrets reach no log', () => {
  const secretToken = `tok-${randomBytes(12).toString('hex')}`;
  const secretEnv = `env-${randomBytes(12).toString('hex')}`;
  const secretMeta = `meta-${randomBytes(12).toString('hex')}`;
  const configFileText = 'configured by the config webhook\n';
  const configRequests: Array<Record<string, unknown>> = [];
  let world: World;
  let authserver: RunningProgram | undefined;
  let fake: Awaited<ReturnType<typeof startFakeWebhook>> | undefined;
  let username = '';
  let password = '';

  before(async () => {
    world = await startWorld({
      gateway: { auth: { authz: true } },
      beforeGateway: async (certsDir) => {
        const dir = dirname(certsDir);
        username = 'meta';
        password = randomBytes(12).toString('base64url');
        await writeFile(
          join(dir, 'meta-users.yaml'),
          stringify({
            users: {
              [username]: {
                passwordHash: await argon2.hash(password, { type: argon2.argon2id }),
                metadata: { team: 'research', GITHUB_TOKEN: { value: secretMeta, sensitive: true } },
                environment: { PROJECT: 'demo', API_TOKEN: { value: secretEnv, sensitive: true } },
                files: { '/home/user/.token': { content: `${secretToken}\n`, sensitive: true } },
              },
            },
          }),
          { mode: 0o600 },
        );
        await writeFile(
          join(dir, 'meta-authserver.yaml'),
          stringify({
            listen: '127.0.0.1:0',
            tls: {
              certFile: join(certsDir, 'authserver.crt'),
              keyFile: join(certsDir, 'authserver.key'),
              clientCaFile: join(certsDir, 'ca.crt'),
              allowedClientNames: ['gateway'],
            },
            usersFile: join(dir, 'meta-users.yaml'),
            log: { level: 'debug' },
          }),
        );
        authserver = await startProgram('authserver', ['authserver/src/main.ts', '--config', join(dir, 'meta-authserver.yaml')], 'AUTHSERVER_LISTENING');
        fake = await startFakeWebhook({ cert: join(certsDir, 'configserver.crt'), key: join(certsDir, 'configserver.key'), ca: join(certsDir, 'ca.crt') }, (req, res) => {
          let text = '';
          req.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
          req.on('end', () => {
            configRequests.push(JSON.parse(text) as Record<string, unknown>);
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(
              JSON.stringify({
                config: { backend: 'docker', docker: { execution: hardenedExecution() } },
                environment: { FROM_CONFIG: { value: 'config-value', sensitive: false } },
                files: { '/home/user/motd.txt': { value: Buffer.from(configFileText).toString('base64'), sensitive: false, mode: '0640' } },
              }),
            );
          });
        });
        return { authUrl: `https://localhost:${authserver.port}`, configserverUrl: fake.url('/config') };
      },
    });
  });
  after(async () => {
    await world.stop();
    await authserver?.stop();
    await fake?.close();
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId), [], 'no session container is left');
  });

  test("env shows both webhooks' variables; cat and stat show both files with their modes and owner", E2E, async () => {
    const result = await runSsh({
      port: world.sshPort,
      username,
      password,
      command: 'env; echo ---; cat /home/user/.token /home/user/motd.txt; echo ---; stat -c "%n %a %u" /home/user/.token /home/user/motd.txt; id -u',
    });
    assert.equal(result.code, 0, result.stderr);
    const [env = '', files = '', stat = ''] = result.stdout.split('---\n');
    assert.match(env, /^PROJECT=demo$/m);
    assert.match(env, new RegExp(`^API_TOKEN=${secretEnv}$`, 'm'));
    assert.match(env, /^FROM_CONFIG=config-value$/m);
    assert.equal(files, `${secretToken}\n${configFileText}`);
    const uid = stat.trim().split('\n').at(-1);
    assert.deepEqual(stat.trim().split('\n').slice(0, 2), [`/home/user/.token 600 ${uid}`, `/home/user/motd.txt 640 ${uid}`]);
    assert.notEqual(uid, '0');
  });

  test('docker inspect of the session container does not show the sensitive environment value', E2E, async () => {
    const session = await holdSession({ port: world.sshPort, username, password, command: 'echo READY; read line' });
    try {
      await session.waitFor('READY');
      const [id] = await listSessionContainers(world.instanceId);
      assert.ok(id, 'the session container exists');
      const { stdout } = await promisify(execFile)('docker', ['inspect', id]);
      assert.ok(!stdout.includes(secretEnv), 'the sensitive value is not in the container config');
      assert.match(stdout, /HOME=\/home\/user/, 'the inspected config is the session container');
    } finally {
      session.release();
      await session.closed;
    }
  });

  test("the config request carries authMethod and the earlier steps' metadata, but no sensitive entry", E2E, async () => {
    const request = configRequests.at(-1)!;
    const metadata = request.metadata as Record<string, { value: string }>;
    assert.deepEqual(metadata.authMethod, { value: 'password', sensitive: false });
    assert.deepEqual(metadata.team, { value: 'research', sensitive: false });
    assert.equal(metadata.GITHUB_TOKEN, undefined, 'sensitive metadata is not re-sent');
    assert.deepEqual(request.environment, { PROJECT: { value: 'demo', sensitive: false } });
    assert.equal(request.files, undefined, 'the sensitive file is not re-sent');
    await authserver!.waitForCode('AUTHSERVER_AUTHZ_ACCEPTED');
    await world.gateway.waitForCode('AUTHZ_SUCCESSFUL');
  });

  test('the logs of authserver, configserver and gateway contain no secret, plain or base64', E2E, () => {
    const secrets = [secretToken, secretEnv, secretMeta].flatMap((secret) => [secret, Buffer.from(`${secret}\n`).toString('base64'), Buffer.from(secret).toString('base64')]);
    for (const program of [authserver!, world.authserver, world.configserver, world.gateway]) {
      const log = program.output.join('\n');
      assert.ok(log.length > 0, `${program.name} logged something`);
      for (const secret of secrets) assert.ok(!log.includes(secret), `${program.name}'s log holds a secret`);
    }
  });
});
