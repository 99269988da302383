import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../helpers/ports.ts';
import { runSsh } from '../helpers/ssh-client.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROJECT = `portcullis-compose-test-${process.pid}`;


/** Runs Debian's docker-compose (v1) on the repository's own compose file, as an operator would. */
function compose(args: string[], env: NodeJS.ProcessEnv) {
  return run('docker-compose', ['-p', PROJECT, ...args], { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024 });
}

describe('docker compose up starts the whole system and a user logs in', () => {
  let env: NodeJS.ProcessEnv;
  let port: number;
  let upStarted: number;
  before(async () => {
    port = await freePort();
    // The images were built by the test bootstrap; compose must not try a registry.
    env = { ...process.env, PORTCULLIS_SSH_PORT: String(port) };
    upStarted = Date.now();
    await compose(['up', '-d', '--no-build'], env);
  });
  after(async () => {
    await compose(['down', '-v', '--remove-orphans', '--timeout', '20'], env);
    const label = `label=com.docker.compose.project=${PROJECT}`;
    const { stdout } = await run('docker', ['ps', '-aq', '--filter', label]);
    assert.equal(stdout.trim(), '', 'down leaves no container of the project');
    const volumes = await run('docker', ['volume', 'ls', '-q', '--filter', label]);
    assert.equal(volumes.stdout.trim(), '', 'down -v leaves no volume of the project');
    const networks = await run('docker', ['network', 'ls', '-q', '--filter', label]);
    assert.equal(networks.stdout.trim(), '', 'down leaves no network of the project');
  });

  test('the first start prints a generated demo password, and ssh with it lands in a container', async (t) => {
    let password: string | undefined;
    const deadline = Date.now() + 90_000;
    while (!password) {
      const { stdout } = await compose(['logs', '--no-color', 'authserver'], env);
      password = /Demo login: ssh -p 2222 demo@localhost\s+password: (\S+)/.exec(stdout)?.[1];
      if (!password) {
        assert.ok(Date.now() < deadline, `no demo password printed:\n${stdout}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    let result = await runSsh({ port, username: 'demo', password, command: 'id -u; echo $HOME' });
    while (result.code === 255 && /Connection (refused|reset|closed)|kex_exchange/.test(result.stderr) && Date.now() < deadline) {
      // The gateway container may still be starting; the port is published before it listens.
      await new Promise((resolve) => setTimeout(resolve, 500));
      result = await runSsh({ port, username: 'demo', password, command: 'id -u; echo $HOME' });
    }
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '1000\n/home/user\n');
    // Reported, not asserted: timing goals belong to bench/, and a loaded CI machine must not fail on them.
    t.diagnostic(`logged in ${((Date.now() - upStarted) / 1000).toFixed(1)} s after up (goal: under 60 s)`);
    const wrong = await runSsh({ port, username: 'demo', password: `${password}x`, command: 'true' });
    assert.equal(wrong.code, 255);
  });

  test('no program runs as root: the gateway left root after reading the Docker socket group', async () => {
    for (const program of ['authserver', 'configserver', 'gateway']) {
      const { stdout } = await compose(
        ['exec', '-T', program, 'node', '-e', "console.log(require('fs').readFileSync('/proc/1/status', 'utf8').match(/^Uid:.*$/m)[0])"],
        env,
      );
      assert.match(stdout.trim(), /^Uid:\s+10001\s+10001\s+10001\s+10001$/, program);
    }
  });

  test('each running program holds only its own key and the CA certificate, never the CA key', async () => {
    for (const program of ['authserver', 'configserver', 'gateway']) {
      const { stdout } = await compose(['exec', '-T', program, 'node', '-e', "console.log(require('fs').readdirSync('/certs').sort().join(' '))"], env);
      assert.equal(stdout.trim(), [`${program}.crt`, `${program}.key`, 'ca.crt'].sort().join(' '), program);
    }
  });
});
