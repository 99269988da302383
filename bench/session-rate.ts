/**
 * New sessions per second: parallel clients each connect, log in with a key (auth webhook
 * over a kept-alive mTLS connection), run one command on the no-op backend, and leave.
 * Baselines from the same run, interleaved: a bare ssh2 server doing the same handshake, and
 * the gateway as one process against `workers: 2` (two cores). Goals: ≥ 0.95× the bare
 * server, ≥ 1.6× one process with two workers, ≥ 150/s.
 * The clients share the machine's cores with the servers, as a real load test would not:
 * each row says how much CPU the load generator itself used (1.00 = one core busy).
 */
import { availableParallelism } from 'node:os';
import { machineBusySeconds } from './lib/cpu-cost.ts';
import { execToEnd, login } from './lib/ssh2-client.ts';
import type { BenchOptions, Row } from './lib/table.ts';
import { bareServer, noopGateway, type SshTarget } from './lib/targets.ts';

const CLIENTS = 16;
/** Each target is measured this many times, interleaved, and the median kept. */
const ROUNDS = 3;

interface Measured {
  readonly rate: number;
  /** The load generator's CPU time per second of wall time. */
  readonly loadCpu: number;
  /** CPU seconds the whole machine (servers, webhooks, load generator) spent per session. */
  readonly machineCpuPerSession: number;
}

async function rate(target: SshTarget, seconds: number): Promise<Measured> {
  const deadline = performance.now() + seconds * 1000;
  let completed = 0;
  const started = performance.now();
  const cpu = process.cpuUsage();
  const machineBefore = await machineBusySeconds();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < deadline) {
        const client = await login(target.port, target.username, { privateKey: target.privateKey });
        await execToEnd(client, 'exit 0');
        client.end();
        completed += 1;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const machine = (await machineBusySeconds()) - machineBefore;
  return { rate: completed / elapsed, loadCpu: (used.user + used.system) / 1e6 / elapsed, machineCpuPerSession: machine / Math.max(1, completed) };
}

/**
 * What the machine's cores allow for `target`'s cost per session, as a multiple of `of`'s
 * rate: the sessions a second every core busy with nothing else could carry. Below a goal, the
 * goal is out of reach on this machine with this load generator, however the servers scale.
 */
function cpuBound(target: Measured, of: Measured): string {
  const ceiling = availableParallelism() / target.machineCpuPerSession;
  return `the machine's CPU per session ${(target.machineCpuPerSession * 1000).toFixed(1)} ms (servers, webhooks and load generator): every core busy allows ${ceiling.toFixed(0)}/s = ${(ceiling / of.rate).toFixed(2)}× one process`;
}

function median(runs: readonly Measured[]): Measured {
  const sorted = [...runs].sort((a, b) => a.rate - b.rate);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const cpuNote = (...runs: Measured[]) => `load generator CPU ${runs.map((run) => run.loadCpu.toFixed(2)).join(' / ')} cores`;

export async function run(options: BenchOptions): Promise<Row[]> {
  const seconds = options.smoke ? 2 : 10;
  const rounds = options.smoke ? 1 : ROUNDS;
  const single = await noopGateway();
  const cluster = await noopGateway({ workers: 2 });
  const bare = await bareServer();
  const runs = { single: [] as Measured[], cluster: [] as Measured[], bare: [] as Measured[] };
  try {
    // Warm-up: each process's JIT and kept-alive webhook connections (two workers warm up twice).
    for (const target of [single, cluster, bare]) await rate(target, options.smoke ? 1 : 5);
    for (let round = 0; round < rounds; round += 1) {
      runs.single.push(await rate(single, seconds));
      runs.bare.push(await rate(bare, seconds));
      runs.cluster.push(await rate(cluster, seconds));
    }
    const ours = median(runs.single);
    const theirs = median(runs.bare);
    const two = median(runs.cluster);
    const measure = `connect + key login + one command + close, ${CLIENTS} clients, median of ${rounds} × ${seconds} s`;
    return [
      {
        benchmark: 'session rate',
        measure: `${measure}; ${cpuNote(ours, theirs)}`,
        value: ours.rate,
        unit: 'sessions/s',
        baseline: { label: bare.label, value: theirs.rate },
        ratio: ours.rate / theirs.rate,
        goal: '≥ 0.95× bare, ≥ 150/s',
        met: options.smoke ? undefined : ours.rate / theirs.rate >= 0.95 && ours.rate >= 150,
      },
      {
        benchmark: 'session rate, workers: 2',
        measure: `${measure}; ${cpuNote(two, ours)}; ${cpuBound(two, ours)}`,
        value: two.rate,
        unit: 'sessions/s',
        baseline: { label: 'portcullis, one process', value: ours.rate },
        ratio: two.rate / ours.rate,
        goal: '≥ 1.6× one process',
        met: options.smoke ? undefined : two.rate / ours.rate >= 1.6,
      },
    ];
  } finally {
    await bare.stop();
    await cluster.stop();
    await single.stop();
  }
}
