/**
 * Bulk transfers with the OpenSSH client (ssh, sftp, scp) and with `docker exec -i`, each timed
 * from start to exit. The throughput and audit benchmarks and the throughput regression test
 * share them, so all of them measure the same commands.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What one transfer moves, and which way. */
export const TRANSFERS = ['exec stdin', 'exec stdout', 'sftp put', 'sftp get', 'scp'] as const;
export type Transfer = (typeof TRANSFERS)[number];

/** How each transfer is run, for the table. */
export const TRANSFER_COMMANDS: Record<Transfer, string> = {
  'exec stdin': "ssh … 'cat > /dev/null' < file",
  'exec stdout': "ssh … 'head -c N /dev/zero' > /dev/null",
  'sftp put': 'sftp put file /dev/null',
  'sftp get': 'sftp get N-byte file /dev/null',
  scp: 'scp file …:/dev/null',
};

/** Uploads (client to server) and downloads, for the matching `docker exec -i` floor. */
export const UPLOADS: ReadonlySet<Transfer> = new Set(['exec stdin', 'sftp put', 'scp']);

/** An SSH server the OpenSSH client logs in to with a key. */
export interface SshEndpoint {
  readonly port: number;
  readonly user: string;
  readonly keyFile: string;
  /** A file of the transfer's size on the server, for `sftp get`. */
  readonly remoteFile: string;
}

/** Local files a transfer reads: the payload to upload, and sftp batch files. */
export interface TransferFiles {
  readonly bytes: number;
  readonly payload: string;
  readonly dir: string;
}

const TRANSFER_TIMEOUT_MS = 600_000;

/** Runs `command args…` (stdin from `stdinFile`, stdout discarded); resolves with its wall time in ms. */
export async function timed(command: string, args: readonly string[], stdinFile?: string): Promise<number> {
  return (await run(command, args, stdinFile, false)).ms;
}

/** Runs `command args…` (stdin from `stdinFile`); resolves with what it printed. */
export async function output(command: string, args: readonly string[], stdinFile?: string): Promise<string> {
  return (await run(command, args, stdinFile, true)).stdout;
}

function run(command: string, args: readonly string[], stdinFile: string | undefined, keepStdout: boolean): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const shell = stdinFile ? `exec "$0" "$@" < '${stdinFile}'` : 'exec "$0" "$@"';
    const child = spawn('sh', ['-c', shell, command, ...args], { stdio: ['ignore', keepStdout ? 'pipe' : 'ignore', 'pipe'] });
    let stdout = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk.slice(0, 4096)));
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), TRANSFER_TIMEOUT_MS);
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk.slice(0, 4096)));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ ms: performance.now() - started, stdout });
      else reject(new Error(`${command} failed (${signal ?? code}): ${stderr.trim()}`));
    });
  });
}

/** A file of `bytes` random bytes (random, so no layer can compress it away). */
export async function randomPayload(dir: string, bytes: number): Promise<string> {
  const file = join(dir, 'payload.bin');
  await timed('sh', ['-c', `head -c ${bytes} /dev/urandom > '${file}'`]);
  return file;
}

/** The shell command that makes a sparse `bytes`-byte file (zeros) at `path`; `dd` is in the session image. */
export function sparseFileCommand(path: string, bytes: number): string {
  return `dd if=/dev/zero of='${path}' bs=1 count=0 seek=${bytes} 2>/dev/null`;
}

export function sshOptions(keyFile: string): string[] {
  return [
    '-F',
    '/dev/null',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-i',
    keyFile,
    '-o',
    'PreferredAuthentications=publickey',
  ];
}

/** What a command prints on the endpoint, its stdin from `stdinFile` (a check that the bytes arrive). */
export function sshOutput(endpoint: SshEndpoint, command: string, stdinFile?: string): Promise<string> {
  return output('ssh', [...sshOptions(endpoint.keyFile), '-T', '-p', String(endpoint.port), `${endpoint.user}@127.0.0.1`, command], stdinFile);
}

/** Runs a command on the endpoint over ssh (setup, not timed for a figure). */
export function sshRun(endpoint: SshEndpoint, command: string): Promise<number> {
  return timed('ssh', [...sshOptions(endpoint.keyFile), '-T', '-p', String(endpoint.port), `${endpoint.user}@127.0.0.1`, command]);
}

/** One transfer of `files.bytes` through an SSH endpoint; resolves with its wall time in ms. */
export async function throughSsh(transfer: Transfer, endpoint: SshEndpoint, files: TransferFiles): Promise<number> {
  const options = sshOptions(endpoint.keyFile);
  const host = `${endpoint.user}@127.0.0.1`;
  let ms: number;
  switch (transfer) {
    case 'exec stdin':
      ms = await timed('ssh', [...options, '-T', '-p', String(endpoint.port), host, 'cat > /dev/null'], files.payload);
      break;
    case 'exec stdout':
      ms = await timed('ssh', [...options, '-T', '-p', String(endpoint.port), host, `head -c ${files.bytes} /dev/zero`]);
      break;
    case 'sftp put':
    case 'sftp get': {
      const batch = join(files.dir, transfer === 'sftp put' ? 'put.batch' : `get-${endpoint.port}.batch`);
      await writeFile(batch, transfer === 'sftp put' ? `put ${files.payload} /dev/null\n` : `get ${endpoint.remoteFile} /dev/null\n`);
      ms = await timed('sftp', [...options, '-b', batch, '-P', String(endpoint.port), host]);
      break;
    }
    case 'scp':
      ms = await timed('scp', [...options, '-P', String(endpoint.port), files.payload, `${host}:/dev/null`]);
      break;
  }
  return ms;
}

/**
 * The backend's own floor: the same bytes through `docker exec -i` into the container the
 * sessions use (uploads into `cat`, downloads out of `head` or `cat` of the same file).
 */
export async function throughDockerExec(transfer: Transfer, container: string, files: TransferFiles, remoteFile: string): Promise<number> {
  let ms: number;
  if (UPLOADS.has(transfer)) ms = await timed('docker', ['exec', '-i', container, 'sh', '-c', 'cat > /dev/null'], files.payload);
  else if (transfer === 'sftp get') ms = await timed('docker', ['exec', '-i', container, 'cat', remoteFile]);
  else ms = await timed('docker', ['exec', '-i', container, 'head', '-c', String(files.bytes), '/dev/zero']);
  return ms;
}

/** A size or count from the environment (PORTCULLIS_BENCH_…), or `fallback` when unset. */
export function sizeFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65_536) throw new Error(`${name} must be a whole number from 1 to 65536, not "${raw}"`);
  return value;
}

export function mibPerSecond(bytes: number, ms: number): number {
  return bytes / (1024 * 1024) / (ms / 1000);
}

/** Wall time of a login that moves nothing (`ssh … true`), to set apart from a short transfer's time. */
export function sshLoginMs(endpoint: SshEndpoint): Promise<number> {
  return sshRun(endpoint, 'true');
}

/** Wall time of a `docker exec -i` that moves nothing. */
export function dockerExecMs(container: string): Promise<number> {
  return timed('docker', ['exec', '-i', container, 'true']);
}
