/**
 * Bulk throughput with the OpenSSH client: `ssh … 'cat > /dev/null'` and `sftp put`, through
 * Portcullis (Docker backend) and, as the baseline in the same run, straight to Debian's
 * OpenSSH server on the same machine. Goal: ≥ 0.9× sshd.
 */
import { generateParsableKeyPair } from '../gateway/src/listener/index.ts';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSshd } from '../test/helpers/sshd.ts';
import { startWorld } from '../test/helpers/world.ts';
import type { BenchOptions, Row } from './lib/table.ts';

interface Target {
  readonly port: number;
  readonly user: string;
  readonly keyFile: string;
}

function sshArgs(target: Target): string[] {
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
    '-i',
    target.keyFile,
    '-o',
    'PreferredAuthentications=publickey',
  ];
}

function timed(command: string, args: string[], stdinFile?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const shell = stdinFile ? `exec "$0" "$@" < '${stdinFile}'` : 'exec "$0" "$@"';
    const child = spawn('sh', ['-c', shell, command, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`${command} failed (${code}): ${stderr}`))));
  });
}

async function viaSsh(target: Target, file: string): Promise<number> {
  return timed('ssh', [...sshArgs(target), '-T', '-p', String(target.port), `${target.user}@127.0.0.1`, 'cat > /dev/null'], file);
}

async function viaSftp(target: Target, _file: string, batch: string): Promise<number> {
  return timed('sftp', [...sshArgs(target), '-b', batch, '-P', String(target.port), `${target.user}@127.0.0.1`]);
}

export async function run(options: BenchOptions): Promise<Row[]> {
  const bytes = options.smoke ? 32 * 1024 * 1024 : 1024 * 1024 * 1024;
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-throughput-'));
  const key = generateParsableKeyPair('ed25519');
  const world = await startWorld({ authorizedKeys: [key.public], logLevel: 'info' });
  const sshd = await startSshd();
  try {
    const file = join(dir, 'payload.bin');
    await writeFile(file, Buffer.alloc(0));
    await timed('sh', ['-c', `head -c ${bytes} /dev/urandom > '${file}'`]);
    const batch = join(dir, 'batch');
    await writeFile(batch, `put ${file} /dev/null\n`);
    await writeFile(join(dir, 'portcullis_key'), key.private, { mode: 0o600 });
    await writeFile(join(dir, 'sshd_key'), sshd.clientKey, { mode: 0o600 });
    const portcullis: Target = { port: world.sshPort, user: world.username, keyFile: join(dir, 'portcullis_key') };
    const direct: Target = { port: sshd.port, user: sshd.user, keyFile: join(dir, 'sshd_key') };
    const mib = bytes / (1024 * 1024);
    const rate = (ms: number) => mib / (ms / 1000);
    const rows: Row[] = [];
    for (const [measure, measureOnce] of [
      ["ssh … 'cat > /dev/null'", (target: Target) => viaSsh(target, file)],
      ['sftp put', (target: Target) => viaSftp(target, file, batch)],
    ] as const) {
      // Best of three each, alternating, so neither side gets the warmer cache.
      let ours = 0;
      let theirs = 0;
      for (let i = 0; i < (options.smoke ? 1 : 3); i += 1) {
        ours = Math.max(ours, rate(await measureOnce(portcullis)));
        theirs = Math.max(theirs, rate(await measureOnce(direct)));
      }
      rows.push({
        benchmark: 'throughput',
        measure: `${measure}, ${mib.toFixed(0)} MiB`,
        value: ours,
        unit: 'MiB/s',
        baseline: { label: 'Debian sshd, same machine', value: theirs },
        ratio: ours / theirs,
        goal: '≥ 0.9× sshd',
        met: ours / theirs >= 0.9,
      });
    }
    return rows;
  } finally {
    await sshd.stop();
    await world.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
