/**
 * The cost of audit: bulk transfer through Portcullis (Docker backend) with full audit on
 * (binary log of every byte, stdin included, on local storage) against the same gateway with
 * audit off, alternating, best of three. Goal: ≥ 0.85× of audit off.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { generateParsableKeyPair } from '../gateway/src/listener/index.ts';
import { hardenedExecution, worldWithConfig } from '../test/helpers/fake-config.ts';
import type { BenchOptions, Row } from './lib/table.ts';

function timed(args: string[], stdinFile?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const shell = stdinFile ? `exec "$0" "$@" < '${stdinFile}' > /dev/null` : 'exec "$0" "$@" > /dev/null';
    const child = spawn('sh', ['-c', shell, 'ssh', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`ssh failed (${code}): ${stderr}`))));
  });
}

export async function run(options: BenchOptions): Promise<Row[]> {
  const bytes = options.smoke ? 32 * 1024 * 1024 : 512 * 1024 * 1024;
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-bench-audit-'));
  const cleanups: (() => Promise<void> | void)[] = [];
  // worldWithConfig registers its cleanup on a test context; the benchmark runs it itself.
  const context = { after: (cleanup: () => Promise<void> | void) => cleanups.push(cleanup) } as unknown as TestContext;
  try {
    const key = generateParsableKeyPair('ed25519');
    const execution = hardenedExecution();
    const config = (audit: Record<string, unknown>) => ({ backend: 'docker', docker: { execution }, audit });
    const off = config({ recording: 'off' });
    const full = config({ recording: 'required', storage: 'file', intercept: { stdin: true, stdout: true, stderr: true } });
    const { world, setConfig } = await worldWithConfig(context, off, {
      authorizedKeys: [key.public],
      logLevel: 'info',
      gateway: { audit: { directory: join(dir, 'recordings') } },
    });
    const keyFile = join(dir, 'key');
    await writeFile(keyFile, key.private, { mode: 0o600 });
    const payload = join(dir, 'payload.bin');
    await new Promise<void>((resolve, reject) => spawn('sh', ['-c', `head -c ${bytes} /dev/urandom > '${payload}'`]).on('close', (code) => (code === 0 ? resolve() : reject(new Error('payload')))));
    const ssh = (command: string) => [
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
      keyFile,
      '-o',
      'PreferredAuthentications=publickey',
      '-T',
      '-p',
      String(world.sshPort),
      `${world.username}@127.0.0.1`,
      command,
    ];
    const mib = bytes / (1024 * 1024);
    const rate = (ms: number) => mib / (ms / 1000);
    const rows: Row[] = [];
    for (const [measure, once] of [
      [`ssh … 'cat > /dev/null' (stdin recorded), ${mib} MiB random`, () => timed(ssh('cat > /dev/null'), payload)],
      [`ssh … 'head -c N /dev/zero' (stdout recorded), ${mib} MiB`, () => timed(ssh(`head -c ${bytes} /dev/zero`))],
    ] as const) {
      let audited = 0;
      let plain = 0;
      for (let i = 0; i < (options.smoke ? 1 : 3); i += 1) {
        setConfig(full);
        audited = Math.max(audited, rate(await once()));
        setConfig(off);
        plain = Math.max(plain, rate(await once()));
      }
      rows.push({
        benchmark: 'audit',
        measure,
        value: audited,
        unit: 'MiB/s',
        baseline: { label: 'same gateway, audit off', value: plain },
        ratio: audited / plain,
        goal: '≥ 0.85× audit off',
        met: audited / plain >= 0.85,
      });
    }
    return rows;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await rm(dir, { recursive: true, force: true });
  }
}
