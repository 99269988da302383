import { execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { opensshInvocation } from './ssh-client.ts';

const run = promisify(execFile);
/** Debian's python3, where python3-paramiko is installed (not whatever python3 is first on PATH). */
const PYTHON = '/usr/bin/python3';
const PARAMIKO_CLIENT = fileURLToPath(new URL('./paramiko-client.py', import.meta.url));

/** The SSH clients people use that run a remote command: each is a real program. */
export const EXEC_CLIENTS = ['ssh', 'ssh -C', 'dbclient', 'plink', 'paramiko'] as const;
export type ExecClient = (typeof EXEC_CLIENTS)[number];

/** The clients that move files (OpenSSH's sftp and scp in both protocols, with and without compression). */
export const FILE_CLIENTS = ['sftp', 'sftp -C', 'scp', 'scp -C', 'scp -O', 'scp -O -C', 'dbclient', 'psftp', 'pscp', 'paramiko'] as const;
export type FileClient = (typeof FILE_CLIENTS)[number];

/** A client invocation: the program, its arguments, the environment it needs beside ours, what it reads on stdin. */
export interface ClientCommand {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly stdin?: string;
}

export interface ClientTarget {
  /** The gateway's SSH port now (a test that restarts a gateway gets a new one). */
  readonly port: () => number;
  readonly username: string;
  readonly password: string;
  /** The gateway's `ssh.hostKeyDir`: PuTTY is told its host keys (it refuses unknown ones in -batch mode). */
  readonly hostKeyDir: string;
}

export interface ClientKit {
  /** `client` running `command` in the container; a pty only with `pty` (for a terminal), environment variables sent with `env`. */
  exec(client: ExecClient, command: string, options?: { readonly pty?: boolean; readonly env?: Readonly<Record<string, string>> }): ClientCommand;
  /** `client` copying `local` to `remote` (put) or `remote` to `local` (get). */
  transfer(client: FileClient, direction: 'put' | 'get', local: string, remote: string): Promise<ClientCommand>;
  /** A scratch folder of the kit, removed after the test. */
  readonly dir: string;
}

/**
 * Everything the real clients need to log in to the gateway without a prompt: OpenSSH's askpass,
 * Dropbear's DROPBEAR_PASSWORD, PuTTY's password file and host key fingerprints, paramiko's
 * script. Files live in one folder removed after the test.
 */
export async function clientKit(t: Pick<TestContext, 'after'>, target: ClientTarget): Promise<ClientKit> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-clients-'));
  const openssh = await opensshInvocation({ port: 0, username: target.username, password: target.password });
  t.after(async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(openssh.dir, { recursive: true, force: true });
  });
  // The connection options ssh got, minus its -T/-p/target tail.
  const opensshCommon = openssh.args.slice(0, openssh.args.indexOf('-T'));
  const opensshEnv = {
    SSH_ASKPASS: openssh.env.SSH_ASKPASS!,
    SSH_ASKPASS_REQUIRE: 'force',
    DISPLAY: openssh.env.DISPLAY!,
    PORTCULLIS_TEST_PASSWORD: target.password,
  };
  // dbclient keeps known hosts under $HOME and PuTTY its saved sessions: a home of their own.
  const home = join(dir, 'home');
  await mkdir(join(home, '.putty', 'sessions'), { recursive: true, mode: 0o700 });
  const passwordFile = join(dir, 'password');
  await writeFile(passwordFile, target.password, { mode: 0o600 });
  const hostKeys = await hostKeyFingerprints(target.hostKeyDir);
  const dropbearEnv = { HOME: home, DROPBEAR_PASSWORD: target.password };
  const puttyCommon = () => ['-batch', '-P', String(target.port()), '-l', target.username, '-pwfile', passwordFile, ...hostKeys.flatMap((key) => ['-hostkey', key])];
  const opensshTarget = () => ['-p', String(target.port()), `${target.username}@127.0.0.1`];
  let sessions = 0;

  const exec: ClientKit['exec'] = (client, command, options = {}): ClientCommand => {
    const tty = options.pty ?? false;
    const env = options.env ?? {};
    switch (client) {
      case 'ssh':
      case 'ssh -C': {
        const setEnv =
          Object.keys(env).length > 0
            ? [
                '-o',
                `SetEnv=${Object.entries(env)
                  .map(([name, value]) => `${name}=${value}`)
                  .join(' ')}`,
              ]
            : [];
        const compression = client === 'ssh -C' ? ['-C'] : ['-o', 'Compression=no'];
        return { command: 'ssh', args: [...opensshCommon, ...compression, ...setEnv, tty ? '-tt' : '-T', ...opensshTarget(), command], env: opensshEnv };
      }
      case 'dbclient':
        if (Object.keys(env).length > 0) throw new Error('dbclient cannot send environment variables');
        return { command: 'dbclient', args: ['-y', tty ? '-t' : '-T', '-p', String(target.port()), '-l', target.username, '127.0.0.1', command], env: dropbearEnv };
      case 'plink': {
        // PuTTY sends environment variables only from a saved session (its Connection > Data panel).
        const load: string[] = [];
        if (Object.keys(env).length > 0) {
          const name = `env-${(sessions += 1)}`;
          load.push('-load', name);
          writeFileSync(
            join(home, '.putty', 'sessions', name),
            `Environment=${Object.entries(env)
              .map(([key, value]) => `${key}=${value}`)
              .join(',')}\n`,
            { mode: 0o600 },
          );
        }
        return { command: 'plink', args: ['-ssh', ...load, ...puttyCommon(), tty ? '-t' : '-T', '127.0.0.1', command], env: { HOME: home } };
      }
      case 'paramiko':
        return {
          command: PYTHON,
          args: [PARAMIKO_CLIENT, 'exec', String(target.port()), target.username, command, ...(tty ? ['--pty'] : []), ...Object.entries(env).flatMap(([key, value]) => ['--env', `${key}=${value}`])],
          env: { PORTCULLIS_TEST_PASSWORD: target.password },
        };
    }
  };
  const transfer: ClientKit['transfer'] = async (client, direction, local, remote): Promise<ClientCommand> => {
    const sftpBatch = direction === 'put' ? `put ${local} ${remote}\n` : `get ${remote} ${local}\n`;
    switch (client) {
      case 'sftp':
      case 'sftp -C': {
        const compression = client === 'sftp -C' ? ['-C'] : ['-o', 'Compression=no'];
        // sftp -b turns on ssh's BatchMode (no password prompt); ssh keeps the first value it is given.
        return {
          command: 'sftp',
          args: [...opensshCommon, ...compression, '-o', 'BatchMode=no', '-P', String(target.port()), '-b', '-', `${target.username}@127.0.0.1`],
          env: opensshEnv,
          stdin: sftpBatch,
        };
      }
      case 'scp':
      case 'scp -C':
      case 'scp -O':
      case 'scp -O -C': {
        const flags = client.split(' ').slice(1);
        const compression = flags.includes('-C') ? ['-C'] : ['-o', 'Compression=no'];
        const legacy = flags.includes('-O') ? ['-O'] : ['-s'];
        const remoteSpec = `${target.username}@127.0.0.1:${remote}`;
        const [from, to] = direction === 'put' ? [local, remoteSpec] : [remoteSpec, local];
        return { command: 'scp', args: [...opensshCommon, ...compression, ...legacy, '-P', String(target.port()), from, to], env: opensshEnv };
      }
      case 'dbclient': {
        // OpenSSH's sftp over dbclient as its transport (dbclient -s): the SFTP bytes cross Dropbear's channel.
        const wrapper = join(dir, 'dbclient-sftp.sh');
        await writeFile(wrapper, `#!/bin/sh\nexec dbclient -y -p ${target.port()} -l ${target.username} -s 127.0.0.1 sftp\n`);
        await chmod(wrapper, 0o700);
        return { command: 'sftp', args: ['-S', wrapper, '-b', '-', 'gateway'], env: dropbearEnv, stdin: sftpBatch };
      }
      case 'psftp': {
        const batch = join(dir, `psftp-${(sessions += 1)}.batch`);
        await writeFile(batch, sftpBatch);
        return { command: 'psftp', args: [...puttyCommon(), '-b', batch, '127.0.0.1'], env: { HOME: home } };
      }
      case 'pscp': {
        const remoteSpec = `127.0.0.1:${remote}`;
        const [from, to] = direction === 'put' ? [local, remoteSpec] : [remoteSpec, local];
        return { command: 'pscp', args: [...puttyCommon(), '-sftp', '-q', from, to], env: { HOME: home } };
      }
      case 'paramiko':
        return { command: PYTHON, args: [PARAMIKO_CLIENT, 'sftp', String(target.port()), target.username, direction, local, remote], env: { PORTCULLIS_TEST_PASSWORD: target.password } };
    }
  };

  return { exec, transfer, dir };
}

/** `SHA256:…` of every `*.pub` host key in `dir`, as `ssh-keygen -l` prints it. */
async function hostKeyFingerprints(dir: string): Promise<string[]> {
  const files = (await readdir(dir)).filter((file) => file.endsWith('.pub'));
  const fingerprints = await Promise.all(files.map(async (file) => (await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, file)])).stdout.split(' ')[1]!));
  if (fingerprints.length === 0) throw new Error(`no host key in ${dir}`);
  return fingerprints;
}

export interface ClientRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

export interface ClientProcess {
  readonly pid: number | undefined;
  /** Bytes on stdout so far. */
  stdout(): Buffer;
  stderr(): string;
  /** Resolves once stdout holds `marker`; rejects if the client ended first or time ran out. */
  waitForStdout(marker: string, deadlineMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): void;
  /** Writes to the client's stdin (with holdStdin); resolves true once taken (after `drain`), false if the client is gone. */
  write(chunk: Buffer): Promise<boolean>;
  /** Closes the client's stdin (EOF for the remote program). */
  endStdin(): void;
  /** Resolves when the client ended (killed after `timeoutMs` at the latest). */
  readonly ended: Promise<ClientRun>;
  /** True once the deadline had to kill it. */
  timedOut(): boolean;
}

/**
 * Starts a client as a real process, stdin fed from `stdin` (then closed unless `holdStdin`),
 * stdout kept as bytes. Bounded: SIGKILLed after `timeoutMs`.
 */
export function startClient(client: ClientCommand, options: { readonly stdin?: Buffer | string; readonly holdStdin?: boolean; readonly timeoutMs?: number } = {}): ClientProcess {
  const child = spawn(client.command, client.args, { env: { ...process.env, ...client.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  let size = 0;
  let stderr = '';
  let timedOut = false;
  child.stdout.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const stdout = () => {
    if (chunks.length > 1) chunks.splice(0, chunks.length, Buffer.concat(chunks, size));
    return chunks[0] ?? Buffer.alloc(0);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 120_000);
  const ended = new Promise<ClientRun>((resolve) => {
    child.on('error', (error) => {
      stderr += `\nspawn failed: ${error.message}`;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: stdout(), stderr });
    });
  });
  // A client may exit before it read its stdin (a refused login, a kill): that is its result.
  child.stdin.on('error', () => undefined);
  const input = options.stdin ?? client.stdin ?? '';
  if (options.holdStdin) child.stdin.write(input);
  else child.stdin.end(input);
  let done = false;
  void ended.then(() => (done = true));
  return {
    pid: child.pid,
    stdout,
    stderr: () => stderr,
    waitForStdout: async (marker, deadlineMs = 30_000) => {
      const end = Date.now() + deadlineMs;
      while (!stdout().includes(marker)) {
        if (done) throw new Error(`${client.command} ended before printing "${marker}"; stderr: ${stderr}`);
        if (Date.now() > end) throw new Error(`no "${marker}" from ${client.command} within ${deadlineMs} ms; stderr: ${stderr}`);
        await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 25))]);
      }
    },
    kill: (signal = 'SIGKILL') => {
      if (!done) child.kill(signal);
    },
    write: (chunk) =>
      new Promise<boolean>((resolve) => {
        if (done || !child.stdin.writable) return resolve(false);
        if (child.stdin.write(chunk)) return resolve(true);
        child.stdin.once('drain', () => resolve(true));
        void ended.then(() => resolve(false));
      }),
    endStdin: () => child.stdin.end(),
    ended,
    timedOut: () => timedOut,
  };
}

/** Runs a client to its end (bounded); the result carries `timedOut` when the deadline killed it. */
export async function runClient(client: ClientCommand, options: { readonly stdin?: Buffer | string; readonly timeoutMs?: number } = {}): Promise<ClientRun & { readonly timedOut: boolean }> {
  const started = startClient(client, options);
  const result = await started.ended;
  return { ...result, timedOut: started.timedOut() };
}
