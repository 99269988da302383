import { generateParsableKeyPair } from '../../gateway/src/listener/index.ts';
import { readFile } from 'node:fs/promises';
import { startProgram, type RunningProgram } from '../../test/helpers/program.ts';
import { startWorld, type World } from '../../test/helpers/world.ts';

/** Something the memory and rate benchmarks log in to: the gateway, or the bare baseline. */
export interface SshTarget {
  readonly label: string;
  readonly port: number;
  readonly username: string;
  readonly privateKey: string;
  /** Resident memory of the server process, in bytes. */
  rss(): Promise<number>;
  stop(): Promise<void>;
}

async function rssOf(program: RunningProgram): Promise<number> {
  const status = await readFile(`/proc/${program.process.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) * 1024;
}

/** The real gateway process, real webhooks over mTLS, and the no-op backend. */
export async function noopGateway(options: { workers?: number } = {}): Promise<SshTarget & { world: World }> {
  const key = generateParsableKeyPair('ed25519');
  const world = await startWorld({
    authorizedKeys: [key.public],
    logLevel: 'info',
    gatewayEntry: 'bench/lib/noop-gateway.ts',
    ...(options.workers ? { workers: options.workers } : {}),
    gateway: { ssh: { maxStartups: 1000, perSourceMaxStartups: 1000, maxConnectionsPerUser: 1000, perSourcePenalties: { enabled: false } } },
  });
  return {
    label: options.workers && options.workers > 1 ? `portcullis, ${options.workers} workers (no-op backend)` : 'portcullis (no-op backend)',
    world,
    port: world.sshPort,
    username: world.username,
    privateKey: key.private,
    rss: () => rssOf(world.gateway),
    stop: () => world.stop(),
  };
}

/** ssh2's server with nothing behind it. */
export async function bareServer(): Promise<SshTarget> {
  const program = await startProgram('bare-ssh-server', ['bench/lib/bare-ssh-server.ts'], 'BARE_LISTENING');
  return {
    label: 'bare ssh2 server',
    port: program.port,
    username: 'bench',
    privateKey: generateParsableKeyPair('ed25519').private,
    rss: () => rssOf(program),
    stop: () => program.stop(),
  };
}
