import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { worldWithConfig } from '../helpers/fake-config.ts';
import { throughLocalForward } from '../helpers/forwarding.ts';
import { opensshInvocation, runSsh } from '../helpers/ssh-client.ts';
import { startSshd, type RunningSshd } from '../helpers/sshd.ts';
import type { World } from '../helpers/world.ts';
import { E2E } from '../helpers/deadlines.ts';

function proxyConfig(sshd: RunningSshd, pins: string[]) {
  return {
    backend: 'sshproxy',
    sshproxy: { server: '127.0.0.1', port: sshd.port, username: sshd.user, privateKey: sshd.clientKey, allowedHostKeyFingerprints: pins },
  };
}

describe('SSH proxy backend in front of a real OpenSSH server', () => {
  let sshd: RunningSshd;
  before(async () => {
    sshd = await startSshd();
  });
  after(() => sshd.stop());

  const login = (world: World, command: string, extra: Partial<Parameters<typeof runSsh>[0]> = {}) =>
    runSsh({ port: world.sshPort, username: world.username, password: world.password, command, ...extra });

  test('with the right pin: exec, exit status, separate stderr, stdin EOF', E2E, async (t) => {
    const { world } = await worldWithConfig(t, proxyConfig(sshd, [sshd.fingerprint]));
    const result = await login(world, 'echo $((6*7)); echo to-stderr >&2; exit 5');
    assert.equal(result.code, 5, result.stderr);
    assert.equal(result.stdout, '42\n');
    assert.match(result.stderr, /to-stderr/);
    const counted = await login(world, 'wc -c', { stdin: 'x'.repeat(70_000) });
    assert.equal(counted.stdout.trim(), '70000');
  });

  test('with the right pin: an interactive terminal', E2E, async (t) => {
    const { world } = await worldWithConfig(t, proxyConfig(sshd, [sshd.fingerprint]));
    const result = await login(world, 'tty; exit 3', { tty: true });
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stdout, /\/dev\/pts\/\d+/);
  });

  test('with the right pin: sftp put and get pass through', E2E, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-sftp-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    // `sftp -b` runs in batch mode, which allows no password prompt: log in with a key.
    await promisify(execFile)('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')]);
    const authorizedKey = (await readFile(join(dir, 'id.pub'), 'utf8')).trim();
    const { world } = await worldWithConfig(t, proxyConfig(sshd, [sshd.fingerprint]), { authorizedKeys: [authorizedKey] });
    await chmod(dir, 0o777); // the upstream account writes here
    const content = randomBytes(3 * 1024 * 1024);
    await writeFile(join(dir, 'up.bin'), content);
    const remote = join(dir, 'remote.bin'); // the upstream server shares this machine's filesystem
    await writeFile(join(dir, 'batch'), `put ${join(dir, 'up.bin')} ${remote}\nget ${remote} ${join(dir, 'down.bin')}\n`);
    const { args, env } = await opensshInvocation({ port: world.sshPort, username: world.username, identityFile: join(dir, 'id') });
    // sftp takes ssh's options, but -P for the port and no -T.
    const sftpArgs = args.filter((arg) => arg !== '-T');
    sftpArgs.splice(sftpArgs.indexOf('-p'), 2, '-P', String(world.sshPort));
    let stderr = '';
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn('sftp', ['-b', join(dir, 'batch'), ...sftpArgs], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.on('close', resolve);
    });
    assert.equal(code, 0, stderr);
    const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
    assert.equal(sha(await readFile(join(dir, 'down.bin'))), sha(content));
  });

  test('with the right pin: a signal request reaches the upstream program and comes back as exit-signal', E2E, async (t) => {
    const { world } = await worldWithConfig(t, proxyConfig(sshd, [sshd.fingerprint]));
    const client = new ssh2.Client();
    t.after(() => client.end());
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve).once('error', reject);
      client.connect({ host: '127.0.0.1', port: world.sshPort, username: world.username, password: world.password });
    });
    const ended = await new Promise<{ code: number | null; signal?: string }>((resolve, reject) => {
      client.exec('echo started; exec sleep 30', (error, channel) => {
        if (error) return reject(error);
        channel.on('exit', (code: number | null, signal?: string) => resolve({ code, ...(signal ? { signal } : {}) }));
        channel.once('data', () => channel.signal('TERM'));
        channel.resume();
      });
    });
    // ssh2's client reports the exit-signal `TERM` as `SIGTERM`.
    assert.deepEqual(ended, { code: null, signal: 'SIGTERM' });
  });

  test('with the right pin: env requests reach the upstream, which applies its own AcceptEnv', E2E, async (t) => {
    const { world } = await worldWithConfig(t, proxyConfig(sshd, [sshd.fingerprint]));
    const result = await login(world, 'echo "[$PORTCULLIS_GREETING][$OTHER_VAR]"', {
      extraArgs: ['-o', 'SetEnv=PORTCULLIS_GREETING=hello OTHER_VAR=dropped'],
    });
    assert.equal(result.stdout, '[hello][]\n', result.stderr);
  });

  test('with the right pin: ssh -L reaches a service through the upstream server', E2E, async (t) => {
    const service = createServer((socket) => socket.pipe(socket)); // an echo service on loopback
    service.listen(0, '127.0.0.1');
    await once(service, 'listening');
    t.after(() => service.close());
    const servicePort = (service.address() as AddressInfo).port;
    const { world } = await worldWithConfig(t, proxyConfig(sshd, [sshd.fingerprint]));
    const reply = await throughLocalForward(world, servicePort, t);
    assert.equal(reply, 'ping through the tunnel');
  });

  test('a config with no credential logs in upstream with the key the gateway holds', E2E, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-gateway-key-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'upstream_key'), sshd.clientKey, { mode: 0o600 });
    const { privateKey: _dropped, ...withoutCredential } = proxyConfig(sshd, [sshd.fingerprint]).sshproxy;
    const config = { backend: 'sshproxy', sshproxy: withoutCredential };
    const { world } = await worldWithConfig(t, config, { gateway: { sshproxy: { privateKeyFile: join(dir, 'upstream_key') } } });
    const result = await login(world, 'id -un');
    assert.equal(result.stdout, `${sshd.user}\n`, result.stderr);

    const { world: keyless } = await worldWithConfig(t, config);
    const refused = await login(keyless, 'id -un');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /there is no credential for your server.*CONFIG_UNSUPPORTED/);
  });

  test('with a wrong pin: refused with a message naming the mismatch, the credential never sent', E2E, async (t) => {
    const wrongPin = `SHA256:${Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '')}`;
    const { world } = await worldWithConfig(t, proxyConfig(sshd, [wrongPin]));
    const authLinesBefore = (sshd.output().match(/Accepted|Failed|Postponed|Connection closed by authenticating/g) ?? []).length;
    const result = await login(world, 'echo should-not-run');
    assert.equal(result.code, 1);
    assert.doesNotMatch(result.stdout, /should-not-run/);
    assert.ok(result.stderr.includes(`its host key ${sshd.fingerprint} does not match the pinned fingerprint`), result.stderr);
    assert.match(result.stderr, /SSHPROXY_INVALID_FINGERPRINT/);
    const authLinesAfter = (sshd.output().match(/Accepted|Failed|Postponed|Connection closed by authenticating/g) ?? []).length;
    assert.equal(authLinesAfter, authLinesBefore, 'the upstream never saw an authentication attempt');
  });

  test('a config with no pin at all is invalid: the login is refused', E2E, async (t) => {
    const { world } = await worldWithConfig(t, proxyConfig(sshd, []));
    const result = await login(world, 'true');
    assert.equal(result.code, 255);
    assert.match(result.stderr, /configuration service answered with an invalid response.*CONFIG_BACKEND_ERROR/);
    assert.match(JSON.stringify(await world.gateway.waitForCode('CONFIG_BACKEND_ERROR')), /pin at least one upstream host key/);
  });
});
