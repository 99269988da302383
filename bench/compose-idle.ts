/**
 * What `docker compose up` costs at rest: the repository's docker-compose.yml started as an
 * operator starts it, every service healthy, then nothing asked of it for a window. The figure
 * is the CPU of its containers (cumulative cgroup usage, the source of `docker stats`; health
 * checks run inside them) plus what the container engine spent beyond its own rest (each health
 * check is an exec the engine starts). Baseline: the engine alone at rest, measured first for
 * the same window. Goal: the stack under 2 % of one core, with every service still healthy.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { composeUp, LONG_RUNNING_SERVICES } from '../test/helpers/compose-stack.ts';
import { withCpuSeconds } from './lib/cpu-cost.ts';
import type { BenchOptions, Row } from './lib/table.ts';

/** Long enough for every service's health check to run (the gateway's interval is 30 s). */
const FULL_WINDOW_MS = 90_000;
const SMOKE_WINDOW_MS = 10_000;
/** After healthy, the programs' start-up work (module loading, JIT, first timers) is not rest. */
const SETTLE_MS = 10_000;

const docker = new Docker();

/** CPU seconds the container has used so far (the cgroup's total, as `docker stats` reads it). */
async function containerCpuSeconds(id: string): Promise<number> {
  const stats = (await docker.getContainer(id).stats({ stream: false })) as { cpu_stats: { cpu_usage: { total_usage: number } } };
  return stats.cpu_stats.cpu_usage.total_usage / 1e9;
}

/** The container engine's CPU seconds over `windowMs` of doing nothing asked by us. */
async function engineSeconds(windowMs: number): Promise<number> {
  const { seconds } = await withCpuSeconds(new Map(), () => sleep(windowMs));
  return seconds.get('container engine') ?? 0;
}

const percentOfOneCore = (seconds: number, windowMs: number) => (100 * seconds) / (windowMs / 1000);

export async function run(options: BenchOptions): Promise<Row[]> {
  const windowMs = options.smoke ? SMOKE_WINDOW_MS : FULL_WINDOW_MS;
  const engineAtRest = await engineSeconds(windowMs);
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-compose-idle-'));
  const stack = await composeUp(`portcullis-bench-idle-${randomBytes(3).toString('hex')}`, dir).catch(async (error: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  try {
    await stack.healthy();
    if (!options.smoke) await sleep(SETTLE_MS);
    const ids = await stack.containers();
    const services = LONG_RUNNING_SERVICES.map((service) => {
      const id = ids.get(service);
      if (!id) throw new Error(`compose-idle: no ${service} container`);
      return { service, id };
    });
    const before = await Promise.all(services.map(({ id }) => containerCpuSeconds(id)));
    const engine = await engineSeconds(windowMs);
    const after = await Promise.all(services.map(({ id }) => containerCpuSeconds(id)));
    const health = await stack.health();
    const perService = services.map(({ service }, index) => ({ service, percent: percentOfOneCore(after[index]! - before[index]!, windowMs) }));
    const containers = perService.reduce((sum, { percent }) => sum + percent, 0);
    const engineExtra = Math.max(0, percentOfOneCore(engine - engineAtRest, windowMs));
    const total = containers + engineExtra;
    const allHealthy = Object.values(health).every((status) => status === 'healthy');
    const parts = perService.map(({ service, percent }) => `${service} ${percent.toFixed(2)}`).join(', ');
    return [
      {
        benchmark: 'compose at rest',
        measure: `docker compose up, every service healthy, nothing asked for ${windowMs / 1000} s: containers ${containers.toFixed(2)} % of one core (docker stats: ${parts}), container engine +${engineExtra.toFixed(2)} % over its own rest (health check execs); health: ${Object.entries(
          health,
        )
          .map(([service, status]) => `${service} ${status}`)
          .join(', ')}`,
        value: total,
        unit: '% of one core',
        baseline: { label: 'the container engine alone at rest, before up', value: percentOfOneCore(engineAtRest, windowMs) },
        goal: '< 2 % of one core, every service healthy',
        met: options.smoke ? undefined : total < 2 && allHealthy,
      },
    ];
  } finally {
    await stack.down();
    await rm(dir, { recursive: true, force: true });
  }
}
