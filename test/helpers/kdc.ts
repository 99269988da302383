import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { freePort } from './ports.ts';
import { trackProcess } from './leftovers.ts';
import { pollUntil } from './poll-until.ts';

const run = promisify(execFile);

/** A real MIT Kerberos KDC (Debian's krb5-kdc) with its own realm, database and port. */
export interface TestKdc {
  readonly realm: string;
  readonly port: number;
  /** A krb5.conf naming the realm and this KDC: what the authserver's `kerberos.configPath` gets. */
  readonly krb5Conf: string;
  readonly dir: string;
  /** Creates a principal (`alice` → `alice@REALM`) with this password. */
  addPrincipal(name: string, password: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Creates a realm in a temporary folder (kdb5_util create -s), starts krb5kdc in the
 * foreground on an ephemeral loopback port (UDP and TCP), and waits until it accepts TCP.
 * KRB5_CONFIG and KRB5_KDC_PROFILE point every tool at the generated files, never /etc.
 */
export async function startKdc(realm = 'PORTCULLIS.TEST'): Promise<TestKdc> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-kdc-'));
  let kdc: ChildProcess | undefined;
  try {
    const port = await freePort();
    const krb5Conf = join(dir, 'krb5.conf');
    const kdcConf = join(dir, 'kdc.conf');
    await writeFile(
      krb5Conf,
      [
        '[libdefaults]',
        `  default_realm = ${realm}`,
        '  dns_lookup_realm = false',
        '  dns_lookup_kdc = false',
        '  rdns = false',
        '  ticket_lifetime = 1h',
        '  forwardable = true',
        // TCP first: the port was checked free for TCP only.
        '  udp_preference_limit = 1',
        '[realms]',
        `  ${realm} = {`,
        `    kdc = 127.0.0.1:${port}`,
        '  }',
        '',
      ].join('\n'),
    );
    await writeFile(
      kdcConf,
      [
        '[kdcdefaults]',
        `  kdc_listen = 127.0.0.1:${port}`,
        `  kdc_tcp_listen = 127.0.0.1:${port}`,
        '[realms]',
        `  ${realm} = {`,
        `    database_name = ${join(dir, 'principal')}`,
        `    key_stash_file = ${join(dir, 'stash')}`,
        `    acl_file = ${join(dir, 'kadm5.acl')}`,
        '    max_life = 1h',
        '  }',
        '[logging]',
        `  kdc = FILE:${join(dir, 'kdc.log')}`,
        '',
      ].join('\n'),
    );
    await writeFile(join(dir, 'kadm5.acl'), '');
    const env = { ...process.env, KRB5_CONFIG: krb5Conf, KRB5_KDC_PROFILE: kdcConf };
    await run('kdb5_util', ['create', '-s', '-r', realm, '-P', randomBytes(12).toString('hex')], { env, timeout: 60_000 });
    kdc = spawn('krb5kdc', ['-n', '-r', realm], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    trackProcess(kdc);
    let stderr = '';
    kdc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    kdc.stdout!.resume();
    await waitForTcp(port, kdc, () => stderr);
    const child = kdc;
    return {
      realm,
      port,
      krb5Conf,
      dir,
      addPrincipal: async (name, password) => {
        await run('kadmin.local', ['-r', realm, '-q', `addprinc -pw ${password} ${name}`], { env, timeout: 30_000 });
      },
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await once(child, 'exit');
          clearTimeout(timer);
        }
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    kdc?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Polls a TCP connect until the KDC answers; fails at once if it exited, or after 30 s. */
async function waitForTcp(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  await pollUntil(
    () => {
      if (child.exitCode !== null) throw new Error(`krb5kdc exited (${child.exitCode}): ${stderr()}`);
      return new Promise<boolean>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        socket.once('connect', () => (socket.destroy(), resolve(true)));
        socket.once('error', () => resolve(false));
      });
    },
    { what: `krb5kdc to listen on 127.0.0.1:${port}` },
  ).catch((error: Error) => {
    throw new Error(`${error.message}: ${stderr()}`);
  });
}
