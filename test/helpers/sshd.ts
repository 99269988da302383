import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.ts';
import { fingerprintOf } from '../../gateway/src/backends/sshproxy/index.ts';
import { trackProcess } from './leftovers.ts';

const run = promisify(execFile);

export interface RunningSshd {
  readonly port: number;
  /** SHA256 fingerprint of its ed25519 host key, as a pin. */
  readonly fingerprint: string;
  /** Private key (OpenSSH format) that may log in as `user`. */
  readonly clientKey: string;
  /** The unprivileged account the client key logs in as. */
  readonly user: string;
  /** What sshd printed so far (`-e`), for diagnosing a failed test. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Debian's OpenSSH server on loopback with a throw-away host key and one authorized key,
 * so the SSH proxy backend is tested against the real thing.
 */
export async function startSshd(): Promise<RunningSshd> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-sshd-'));
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation directory
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'client_key')]);
  // sshd reads authorized_keys as the user logging in.
  await chmod(dir, 0o755);
  await writeFile(join(dir, 'authorized_keys'), await readFile(join(dir, 'client_key.pub')), { mode: 0o644 });
  const port = await freePort();
  // Not root: sshd runs root's sessions without privilege separation and then refuses signals.
  // scripts/bootstrap.sh creates this user.
  const user = 'portcullis-upstream';
  await writeFile(
    join(dir, 'sshd_config'),
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin no',
      'UsePAM no',
      'StrictModes no',
      `PidFile ${join(dir, 'sshd.pid')}`,
      'Subsystem sftp internal-sftp',
      'AcceptEnv PORTCULLIS_*',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  trackProcess(child);
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sshd did not start: ${log}`)), 20_000);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      log += chunk;
      if (log.includes('Server listening on') && timer) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`sshd exited: ${log}`));
    });
  });
  const hostKey = Buffer.from((await readFile(join(dir, 'host_key.pub'), 'utf8')).split(' ')[1]!, 'base64');
  return {
    port,
    fingerprint: fingerprintOf(hostKey),
    clientKey: await readFile(join(dir, 'client_key'), 'utf8'),
    user,
    output: () => log,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
