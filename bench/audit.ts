/**
 * The cost of audit: bulk transfer through Portcullis (Docker backend) with full audit on
 * (binary log of every byte, stdin included, SFTP file events, local storage) against the same
 * gateway with audit off, alternating, best of three. Goal: ≥ 0.9× of audit off.
 *
 * Sizes: PORTCULLIS_BENCH_AUDIT_MIB (default 512; smoke 32), best of PORTCULLIS_BENCH_AUDIT_RUNS
 * (default 3; smoke 1).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { generateParsableKeyPair } from '../gateway/src/listener/index.ts';
import { hardenedExecution, worldWithConfig } from '../test/helpers/fake-config.ts';
import { BestRun, cpuCeiling, describeCost, programPids, withCpuCost, type CpuCost } from './lib/cpu-cost.ts';
import type { BenchOptions, Row } from './lib/table.ts';
import { mibPerSecond, randomPayload, sizeFromEnv, throughSsh, type SshEndpoint, type Transfer } from './lib/transfer.ts';

const MEASURES: readonly { transfer: Transfer; label: string }[] = [
  { transfer: 'exec stdin', label: "ssh … 'cat > /dev/null' (stdin recorded), random" },
  { transfer: 'exec stdout', label: "ssh … 'head -c N /dev/zero' (stdout recorded)" },
  { transfer: 'sftp put', label: 'sftp put (file events recorded), random' },
];

/**
 * What recording costs in CPU, so a ratio below the goal says whether recording's own work
 * (deflate on the threadpool, SHA-256 of the stored chunks) or a stall holds it back: with every
 * core busy, the paths' CPU per GiB alone allows at most the ratio of their ceilings.
 */
function describeRecordingCost(on: CpuCost, off: CpuCost): string {
  const gateway = (cost: CpuCost) => cost.byRole.get('gateway') ?? 0;
  const ceilings = cpuCeiling(on) / cpuCeiling(off);
  return (
    `CPU per GiB: audit on ${describeCost(on)}, off ${describeCost(off)}; recording costs the gateway ${(gateway(on) - gateway(off)).toFixed(1)} s per GiB; ` +
    `with every core busy audit on could reach at most ${ceilings.toFixed(2)}× audit off`
  );
}

export async function run(options: BenchOptions): Promise<Row[]> {
  const mib = sizeFromEnv('PORTCULLIS_BENCH_AUDIT_MIB', options.smoke ? 32 : 512);
  const runs = sizeFromEnv('PORTCULLIS_BENCH_AUDIT_RUNS', options.smoke ? 1 : 3);
  const bytes = mib * 1024 * 1024;
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-bench-audit-'));
  const cleanups: (() => Promise<void> | void)[] = [];
  // worldWithConfig registers its cleanup on a test context; the benchmark runs it itself.
  const context = { after: (cleanup: () => Promise<void> | void) => cleanups.push(cleanup) } as unknown as TestContext;
  try {
    const key = generateParsableKeyPair('ed25519');
    const execution = hardenedExecution();
    const config = (audit: Record<string, unknown>) => ({ backend: 'docker', docker: { execution }, audit });
    const off = config({ recording: 'off' });
    const full = config({ recording: 'required', storage: 'file', intercept: { stdin: true, stdout: true, stderr: true, sftp: true } });
    const { world, setConfig } = await worldWithConfig(context, off, {
      authorizedKeys: [key.public],
      logLevel: 'info',
      // Every byte of each run is recorded: the per-recording quota is above the transfer's size.
      gateway: { audit: { directory: join(dir, 'recordings'), maxRecordingBytes: 2 * bytes + 64 * 1024 * 1024 } },
    });
    const keyFile = join(dir, 'key');
    await writeFile(keyFile, key.private, { mode: 0o600 });
    const files = { bytes, payload: await randomPayload(dir, bytes), dir };
    const endpoint: SshEndpoint = { port: world.sshPort, user: world.username, keyFile, remoteFile: '' };
    const pids = programPids(world);
    const rows: Row[] = [];
    for (const { transfer, label } of MEASURES) {
      const recorded = new BestRun();
      const unrecorded = new BestRun();
      const once = async (into: BestRun) => {
        const { result, cost } = await withCpuCost(bytes, pids, () => throughSsh(transfer, endpoint, files));
        into.keep(mibPerSecond(bytes, result), cost);
      };
      for (let i = 0; i < runs; i += 1) {
        setConfig(full);
        await once(recorded);
        setConfig(off);
        try {
          await once(unrecorded);
        } catch (error) {
          throw new Error(`audit: the baseline (audit off, ${transfer}) could not be measured: ${(error as Error).message}`);
        }
      }
      const audited = recorded.rate;
      const plain = unrecorded.rate;
      rows.push({
        benchmark: 'audit',
        measure: `${label}, ${mib} MiB. ${describeRecordingCost(recorded.cost!, unrecorded.cost!)}`,
        value: audited,
        unit: 'MiB/s',
        baseline: { label: 'same gateway, audit off', value: plain },
        ratio: audited / plain,
        goal: '≥ 0.9× audit off',
        met: audited / plain >= 0.9,
      });
    }
    return rows;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await rm(dir, { recursive: true, force: true });
  }
}
