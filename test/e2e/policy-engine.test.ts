/**
 * The policy engine end to end: real authserver, configserver and gateway processes, the real
 * OpenSSH client, real Docker containers. Users matching different profiles get different images
 * and memory limits; a user matching none gets the baseline; a deny profile refuses a login; and
 * a policy edit takes effect while the configserver runs, while a broken edit keeps the old set.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import argon2 from 'argon2';
import { stringify } from 'yaml';
import { createPki } from '@portcullis/pki';
import { startProgram, type RunningProgram } from '../helpers/program.ts';
import { holdSession, runSsh } from '../helpers/ssh-client.ts';
import { listSessionContainers, waitForNoSessionContainers } from '../helpers/docker.ts';
import { persistentName } from '../../configserver/src/policy/persistent.ts';
import { E2E } from '../helpers/deadlines.ts';
import { pollUntil } from '../helpers/poll-until.ts';

const run = promisify(execFile);
const REPO_POLICIES = fileURLToPath(new URL('../../policies', import.meta.url));
const ALT_IMAGE = 'portcullis/session:policy-e2e-alt';

interface PolicyWorld {
  dir: string;
  policyDir: string;
  passwords: Record<string, string>;
  configserver: RunningProgram;
  gateway: RunningProgram;
  instanceId: string;
  stop(): Promise<void>;
}

const PROFILES: Record<string, string> = {
  'big.yaml': `match:\n  groups: [data-science]\noverlay:\n  image: ${ALT_IMAGE}\n  resources:\n    limits:\n      memory: 1Gi\n  environment:\n    PORTCULLIS_PROFILE: big\n`,
  'small.yaml': `match:\n  users: [bob]\noverlay:\n  resources:\n    requests:\n      memory: 128Mi\n    limits:\n      memory: 256Mi\n  environment:\n    PORTCULLIS_PROFILE: small\n`,
  'home.yaml': `match:\n  users: [dave]\noverlay:\n  mode: persistent\n`,
  'deny.yaml': `priority: 100\nmatch:\n  users: [mallory]\ndeny:\n  message: mallory is suspended; ask the security team.\n`,
};

/** The three programs with a temporary copy of the policy folder (world.ts uses the repo's own). */
async function startPolicyWorld(): Promise<PolicyWorld> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-policy-e2e-'));
  const started: RunningProgram[] = [];
  try {
    const policyDir = join(dir, 'policies');
    await cp(join(REPO_POLICIES, 'baseline.yaml'), join(policyDir, 'baseline.yaml'));
    for (const [file, text] of Object.entries(PROFILES))
      await writeFile(join(policyDir, 'profiles', file), text).catch(async () => {
        await (await import('node:fs/promises')).mkdir(join(policyDir, 'profiles'), { recursive: true });
        await writeFile(join(policyDir, 'profiles', file), text);
      });
    await createPki(join(dir, 'certs'));
    const passwords: Record<string, string> = {};
    const users: Record<string, unknown> = {};
    for (const name of ['alice', 'bob', 'carol', 'mallory', 'dave']) {
      passwords[name] = randomBytes(12).toString('base64url');
      users[name] = {
        passwordHash: await argon2.hash(passwords[name]!, { type: argon2.argon2id }),
        // Group membership travels as the `groups` metadata entry (policies/README.md).
        ...(name === 'alice' ? { metadata: { groups: 'staff,data-science' } } : {}),
      };
    }
    await writeFile(join(dir, 'users.yaml'), stringify({ users }), { mode: 0o600 });
    const serverTls = (name: string) => ({
      certFile: join(dir, 'certs', `${name}.crt`),
      keyFile: join(dir, 'certs', `${name}.key`),
      clientCaFile: join(dir, 'certs', 'ca.crt'),
      allowedClientNames: ['gateway'],
    });
    await writeFile(join(dir, 'authserver.yaml'), stringify({ listen: '127.0.0.1:0', tls: serverTls('authserver'), usersFile: join(dir, 'users.yaml'), log: { level: 'debug' } }));
    await writeFile(join(dir, 'configserver.yaml'), stringify({ listen: '127.0.0.1:0', tls: serverTls('configserver'), policyDir, log: { level: 'debug' } }));
    const authserver = await startProgram('authserver', ['authserver/src/main.ts', '--config', join(dir, 'authserver.yaml')], 'AUTHSERVER_LISTENING');
    started.push(authserver);
    const configserver = await startProgram('configserver', ['configserver/src/main.ts', '--config', join(dir, 'configserver.yaml')], 'CONFIGSERVER_LISTENING');
    started.push(configserver);
    const clientTls = { caFile: join(dir, 'certs', 'ca.crt'), certFile: join(dir, 'certs', 'gateway.crt'), keyFile: join(dir, 'certs', 'gateway.key'), timeout: '5s' };
    await writeFile(
      join(dir, 'gateway.yaml'),
      stringify({
        ssh: { listen: '127.0.0.1:0', hostKeyDir: join(dir, 'hostkeys') },
        auth: { url: `https://localhost:${authserver.port}`, ...clientTls },
        configserver: { url: `https://localhost:${configserver.port}/config`, ...clientTls },
        log: { level: 'debug' },
      }),
    );
    const gateway = await startProgram('gateway', ['gateway/src/main.ts', '--config', join(dir, 'gateway.yaml')], 'SSH_AVAILABLE');
    started.push(gateway);
    return {
      dir,
      policyDir,
      passwords,
      configserver,
      gateway,
      instanceId: String((await gateway.waitForCode('SSH_AVAILABLE')).instanceId),
      stop: async () => {
        await Promise.all(started.map((program) => program.stop()));
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all(started.map((program) => program.stop()));
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Logs `user` in, reads the session's memory limit inside and the container's image outside. */
async function sessionFacts(world: PolicyWorld, user: string): Promise<{ image: string; memory: number; cgroupLimit: number; profile: string }> {
  const session = await holdSession({
    port: world.gateway.port,
    username: user,
    password: world.passwords[user]!,
    command: 'echo "LIMIT=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"; echo "PROFILE=${PORTCULLIS_PROFILE:-none}"; echo READY; read line',
  });
  try {
    await session.waitFor('READY');
    const [id] = await listSessionContainers(world.instanceId);
    assert.ok(id, 'a session container exists');
    const { stdout: inspected } = await run('docker', ['inspect', id]);
    const container = (JSON.parse(inspected) as { Config: { Image: string }; HostConfig: { Memory: number } }[])[0]!;
    session.release();
    assert.equal(await session.closed, 0, `${user}: ssh exit; stderr: ${session.stderr()}`);
    await waitForNoSessionContainers(world.instanceId);
    return {
      image: container.Config.Image,
      memory: container.HostConfig.Memory,
      cgroupLimit: Number(/LIMIT=(\d+)/.exec(session.stdout())?.[1]),
      profile: /PROFILE=(\S+)/.exec(session.stdout())?.[1] ?? '',
    };
  } finally {
    session.release();
    await session.closed;
  }
}

describe('policy engine: profiles decide what each user gets, in real containers', () => {
  let world: PolicyWorld;
  before(async () => {
    await run('docker', ['tag', 'portcullis/session:dev', ALT_IMAGE]);
    world = await startPolicyWorld();
  });
  after(async () => {
    await world?.stop();
    await run('docker', ['rmi', ALT_IMAGE]).catch(() => undefined);
    if (world) assert.deepEqual(await waitForNoSessionContainers(world.instanceId), []);
  });

  test('a data-science group member gets the big profile: other image, 1 GiB', E2E, async () => {
    const facts = await sessionFacts(world, 'alice');
    assert.equal(facts.image, ALT_IMAGE);
    assert.equal(facts.memory, 1024 ** 3);
    assert.equal(facts.cgroupLimit, 1024 ** 3, 'the limit the kernel enforces inside the container');
    assert.equal(facts.profile, 'big');
  });

  test('bob matches the small profile: baseline image, 256 MiB', E2E, async () => {
    const facts = await sessionFacts(world, 'bob');
    assert.equal(facts.image, 'portcullis/session:dev');
    assert.equal(facts.memory, 256 * 1024 ** 2);
    assert.equal(facts.cgroupLimit, 256 * 1024 ** 2);
    assert.equal(facts.profile, 'small');
  });

  test('carol matches no profile and gets the baseline: 512 MiB, no profile environment', E2E, async () => {
    const facts = await sessionFacts(world, 'carol');
    assert.equal(facts.image, 'portcullis/session:dev');
    assert.equal(facts.memory, 512 * 1024 ** 2);
    assert.equal(facts.cgroupLimit, 512 * 1024 ** 2);
    assert.equal(facts.profile, 'none');
  });

  test('a deny profile refuses mallory; the configserver answers 403 CONFIG_POLICY_DENIED', E2E, async () => {
    const result = await runSsh({ port: world.gateway.port, username: 'mallory', password: world.passwords.mallory!, command: 'echo SHOULD-NOT-RUN' });
    assert.notEqual(result.code, 0);
    assert.doesNotMatch(result.stdout, /SHOULD-NOT-RUN/);
    // The policy's own sentence reaches the user, on one line with the code.
    assert.match(result.stderr, /portcullis: Login refused\. Access denied by policy: mallory is suspended; ask the security team\. \(CONFIG_POLICY_DENIED\)/, result.stderr);
    const denied = await world.configserver.waitForCode('CONFIGSERVER_POLICY_DENIED');
    assert.equal(denied.profile, 'deny');
    const refused = await world.configserver.waitForCode('CONFIGSERVER_REQUEST_REFUSED');
    assert.deepEqual([refused.errorCode, refused.statusCode], ['CONFIG_POLICY_DENIED', 403]);
  });

  test('editing a profile takes effect without a restart; a broken edit keeps the last good set', E2E, async () => {
    const file = join(world.policyDir, 'profiles', 'small.yaml');
    const reloadsBefore = world.configserver.logs.filter((line) => line.code === 'CONFIGSERVER_POLICY_RELOADED').length;
    await writeFile(file, (await readFile(file, 'utf8')).replace('memory: 256Mi', 'memory: 384Mi'));
    await waitForLogCount(world.configserver, 'CONFIGSERVER_POLICY_RELOADED', reloadsBefore + 1);
    assert.equal((await sessionFacts(world, 'bob')).memory, 384 * 1024 ** 2);

    // A relaxing edit: lint refuses the set, the configserver keeps serving the previous one.
    await writeFile(file, `${await readFile(file, 'utf8')}  pod:\n    container:\n      securityContext:\n        privileged: true\n`);
    const failed = await world.configserver.waitForCode('CONFIGSERVER_POLICY_RELOAD_FAILED');
    assert.match(String(failed.errors), /small\.yaml:\d+:\d+: no-privileged: /);
    assert.equal(failed.failures, 1);
    const facts = await sessionFacts(world, 'bob');
    assert.equal(facts.memory, 384 * 1024 ** 2);
    assert.equal(facts.profile, 'small');
  });

  test('a persistent profile keeps one container per user: dave finds his file on the next connection, in his own named container', E2E, async (t) => {
    const expected = persistentName('dave');
    assert.match(expected, /^portcullis-dave-[0-9a-f]{10}$/);
    t.after(() => run('docker', ['rm', '-f', expected]).catch(() => undefined));
    const login = (command: string) => runSsh({ port: world.gateway.port, username: 'dave', password: world.passwords.dave!, command });
    const first = await login('echo kept-across > $HOME/mark; cat /etc/hostname');
    assert.equal(first.code, 0, first.stderr);
    const second = await login('cat $HOME/mark; cat /etc/hostname');
    assert.equal(second.stdout, `kept-across\n${first.stdout}`, 'the same container, files kept');
    const { stdout } = await run('docker', ['inspect', '-f', '{{.Name}} {{.State.Running}}', expected]);
    assert.equal(stdout.trim(), `/${expected} true`, 'named for dave, and it outlives his connections');
    const bob = await runSsh({ port: world.gateway.port, username: 'bob', password: world.passwords.bob!, command: 'cat $HOME/mark 2>/dev/null || echo no-mark' });
    assert.equal(bob.stdout, 'no-mark\n', 'other users never reach it');
  });
});

async function waitForLogCount(program: RunningProgram, code: string, count: number, deadlineMs = 15_000): Promise<void> {
  await pollUntil(() => program.logs.filter((line) => line.code === code).length, { what: `the ${count}th ${code}`, until: (seen) => seen >= count, timeoutMs: deadlineMs, intervalMs: 50 }).catch(
    (error: Error) => {
      throw new Error(`${error.message}; output:\n${program.output.slice(-20).join('\n')}`);
    },
  );
}
