import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBounded } from './bounded-process.ts';
import { trackProcess } from './leftovers.ts';
import { pollUntil } from './poll-until.ts';

export interface SshOptions {
  readonly port: number;
  readonly username: string;
  /** Typed at OpenSSH's password prompt through SSH_ASKPASS, as a person would type it. */
  readonly password?: string;
  /** Private key file for public-key login. */
  readonly identityFile?: string;
  readonly command?: string;
  /** `-tt`: a real pty even though stdin is a pipe. */
  readonly tty?: boolean;
  readonly stdin?: string | Buffer;
  readonly extraArgs?: string[];
  readonly timeoutMs?: number;
}

export interface SshResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Arguments and environment for the real OpenSSH client; the caller owns `dir`. */
export async function opensshInvocation(options: SshOptions): Promise<{ args: string[]; env: NodeJS.ProcessEnv; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-ssh-'));
  const askpass = join(dir, 'askpass.sh');
  await writeFile(askpass, '#!/bin/sh\nprintf "%s\\n" "$PORTCULLIS_TEST_PASSWORD"\n');
  await chmod(askpass, 0o700);
  const args = [
    '-F',
    '/dev/null',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    `UserKnownHostsFile=${join(dir, 'known_hosts')}`,
    '-o',
    'ConnectTimeout=20',
    '-o',
    'NumberOfPasswordPrompts=1',
    '-o',
    options.identityFile ? 'PreferredAuthentications=publickey' : 'PreferredAuthentications=password',
    ...(options.identityFile ? ['-i', options.identityFile, '-o', 'IdentitiesOnly=yes'] : ['-o', 'PubkeyAuthentication=no']),
    ...(options.tty ? ['-tt'] : ['-T']),
    ...(options.extraArgs ?? []),
    '-p',
    String(options.port),
    `${options.username}@127.0.0.1`,
    ...(options.command !== undefined ? [options.command] : []),
  ];
  const env = {
    ...process.env,
    SSH_ASKPASS: askpass,
    SSH_ASKPASS_REQUIRE: 'force',
    DISPLAY: process.env.DISPLAY ?? ':0',
    PORTCULLIS_TEST_PASSWORD: options.password ?? '',
  };
  return { args, env, dir };
}

/** Runs the real OpenSSH client to completion (bounded by a deadline). */
export async function runSsh(options: SshOptions): Promise<SshResult> {
  const { args, env, dir } = await opensshInvocation(options);
  try {
    return await runToEnd(args, env, options.stdin ?? '', options.timeoutMs);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface HeldSession {
  /** Resolves once stdout shows `marker`; fails with what was seen if ssh ends or time runs out. */
  waitFor(marker: string, deadlineMs?: number): Promise<void>;
  stdout(): string;
  stderr(): string;
  /** Writes to the program's stdin and closes it (e.g. to end a `read line`). */
  release(input?: string): void;
  /** ssh's exit code, once it has ended. */
  readonly closed: Promise<number | null>;
}

/**
 * Runs `command` over the real OpenSSH client and keeps the session open, so a test can look
 * at the container while it exists; `release` lets the program finish.
 */
export async function holdSession(options: SshOptions & { command: string }): Promise<HeldSession> {
  const { args, env, dir } = await opensshInvocation(options);
  const child = spawn('ssh', args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  trackProcess(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve)).finally(() => rm(dir, { recursive: true, force: true }));
  return {
    waitFor: async (marker, deadlineMs = 30_000) => {
      await pollUntil(
        () => {
          if (!stdout.includes(marker) && child.exitCode !== null) throw new Error(`ssh exited before "${marker}"; stdout: ${stdout} stderr: ${stderr}`);
          return stdout.includes(marker);
        },
        { what: `"${marker}" from ssh (stderr: ${stderr})`, timeoutMs: deadlineMs, intervalMs: 50 },
      );
    },
    stdout: () => stdout,
    stderr: () => stderr,
    release: (input = '\n') => child.stdin.end(input),
    closed,
  };
}

export interface SharedConnection {
  /** Runs a command as a new session on the one shared SSH connection. */
  run(command: string): Promise<SshResult>;
  close(): Promise<void>;
}

/**
 * One SSH connection carrying several sessions, the way OpenSSH multiplexes them
 * (ControlMaster): each `run` is a new session channel on the same connection.
 */
export async function openSharedConnection(options: SshOptions): Promise<SharedConnection> {
  const { args, env, dir } = await opensshInvocation({ ...options, command: undefined });
  const controlPath = join(dir, 'control');
  const target = args.slice(args.length - 3); // -p PORT user@host
  const common = args.slice(0, args.length - 3).filter((arg) => arg !== '-T' && arg !== '-tt');
  const master = spawn('ssh', [...common, '-M', '-S', controlPath, '-o', 'ControlPersist=no', '-N', ...target], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  trackProcess(master);
  let masterError = '';
  master.stderr.setEncoding('utf8').on('data', (chunk: string) => (masterError += chunk));
  try {
    await pollUntil(
      async () => {
        if (master.exitCode !== null) throw new Error(`ssh exited (${master.exitCode})`);
        return (await runToEnd(['-S', controlPath, '-O', 'check', ...target], env)).code === 0;
      },
      { what: 'the shared SSH connection to come up' },
    );
  } catch (error) {
    master.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`shared SSH connection did not come up: ${masterError} (${(error as Error).message})`);
  }
  return {
    run: (command) => runToEnd(['-S', controlPath, '-o', 'ControlMaster=no', '-T', ...target, command], env),
    close: async () => {
      await runToEnd(['-S', controlPath, '-O', 'exit', ...target], env);
      if (master.exitCode === null) await new Promise((resolve) => master.once('close', resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs ssh with `args` to completion, feeding `stdin`, bounded by a deadline. */
function runToEnd(args: string[], env: NodeJS.ProcessEnv, stdin: string | Buffer = '', timeoutMs = 60_000): Promise<SshResult> {
  return runBounded('ssh', args, { env, stdin, timeoutMs });
}
