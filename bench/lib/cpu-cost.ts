import { readdir, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';

/**
 * CPU time per GiB moved, by role, for one transfer: what every process on the path spent,
 * measured from /proc. On a machine with few cores the processes of a path (client, server,
 * container engine) compete for them, so the CPU a path needs per byte bounds its throughput:
 * `cores / (CPU seconds per GiB)` is a ceiling no tuning of latency can pass. Comparing that
 * ceiling with a baseline tells a stall (ours below its ceiling) from a cost (the ceiling itself
 * below the goal).
 */
export type Role = 'gateway' | 'webhooks' | 'container engine' | 'sshd' | 'clients' | 'bench process';

export interface CpuCost {
  /** CPU seconds per GiB, every role together. */
  readonly total: number;
  readonly byRole: ReadonlyMap<Role, number>;
}

/** Processes the bench started itself (the gateway, the webhooks), by pid. */
export type KnownPids = ReadonlyMap<number, Role>;

/** The programs of a test world, as far as their pids go. */
interface ProgramsOf {
  readonly gateway: { readonly process: { readonly pid?: number | undefined } };
  readonly authserver: { readonly process: { readonly pid?: number | undefined } };
  readonly configserver: { readonly process: { readonly pid?: number | undefined } };
}

/** The gateway's and the webhooks' pids, so their CPU is charged to them. */
export function programPids(world: ProgramsOf): KnownPids {
  const pids = new Map<number, Role>();
  if (world.gateway.process.pid) pids.set(world.gateway.process.pid, 'gateway');
  for (const program of [world.authserver, world.configserver]) if (program.process.pid) pids.set(program.process.pid, 'webhooks');
  return pids;
}

const TICKS_PER_SECOND = 100;
const GIB = 1024 * 1024 * 1024;

interface Sample {
  readonly comm: string;
  /** Own and reaped children's CPU, in seconds. */
  readonly seconds: number;
}

/** The role of a process found on the machine, by its pid or its command name. */
function roleOf(pid: number, comm: string, known: KnownPids): Role | undefined {
  const role = known.get(pid);
  if (role) return role;
  if (pid === process.pid) return 'bench process';
  if (comm === 'dockerd' || comm.startsWith('containerd') || comm === 'runc') return 'container engine';
  if (comm === 'sshd') return 'sshd';
  return undefined;
}

/** Every process's CPU so far (utime + stime + cutime + cstime): exited programs count in the parent that reaped them. */
async function sample(known: KnownPids): Promise<Map<number, Sample>> {
  const samples = new Map<number, Sample>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => undefined);
    if (!stat) continue;
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (!roleOf(pid, comm, known)) continue;
    // Fields after the command name: state is [0]; utime, stime, cutime, cstime are [11..14].
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    samples.set(pid, { comm, seconds: ticks / TICKS_PER_SECOND });
  }
  return samples;
}

/**
 * Runs `during` and says the CPU seconds each role spent meanwhile. The clients (ssh, sftp, scp,
 * docker) are the bench's children: their CPU is the bench's children time once they are reaped,
 * set apart from the bench's own (which, for Kubernetes, includes the in-process test API server).
 */
export async function withCpuSeconds<T>(known: KnownPids, during: () => Promise<T>): Promise<{ result: T; seconds: ReadonlyMap<Role, number> }> {
  const before = await sample(known);
  const usageBefore = process.resourceUsage();
  const childrenBefore = await childrenSeconds();
  const result = await during();
  const childrenAfter = await childrenSeconds();
  const usageAfter = process.resourceUsage();
  const after = await sample(known);
  const seconds = new Map<Role, number>();
  const add = (role: Role, spent: number) => seconds.set(role, (seconds.get(role) ?? 0) + Math.max(0, spent));
  for (const [pid, now] of after) {
    if (pid === process.pid) continue;
    const then = before.get(pid);
    add(roleOf(pid, now.comm, known)!, now.seconds - (then && then.comm === now.comm ? then.seconds : 0));
  }
  const ownSeconds = (usageAfter.userCPUTime + usageAfter.systemCPUTime - usageBefore.userCPUTime - usageBefore.systemCPUTime) / 1e6;
  add('bench process', ownSeconds);
  add('clients', childrenAfter - childrenBefore);
  return { result, seconds };
}

/** Runs `transfer` and says what it cost per GiB, by role. */
export async function withCpuCost<T>(bytes: number, known: KnownPids, transfer: () => Promise<T>): Promise<{ result: T; cost: CpuCost }> {
  const { result, seconds } = await withCpuSeconds(known, transfer);
  const perGib = new Map([...seconds].map(([role, spent]) => [role, (spent * GIB) / bytes] as const));
  return { result, cost: { total: [...perGib.values()].reduce((sum, value) => sum + value, 0), byRole: perGib } };
}

async function childrenSeconds(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND;
}

/** Busy CPU seconds of the whole machine so far, every core together: all but idle and iowait (/proc/stat). */
export async function machineBusySeconds(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0]!;
  // cpu user nice system idle iowait irq softirq steal …
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  return (ticks.reduce((sum, value) => sum + value, 0) - ticks[3]! - ticks[4]!) / TICKS_PER_SECOND;
}

/**
 * The figures one path keeps over its runs: the best rate, and the CPU per GiB of its cheapest
 * run (the one least disturbed by the rest of the machine).
 */
export class BestRun {
  rate = 0;
  cost: CpuCost | undefined;

  keep(rate: number, cost: CpuCost): void {
    this.rate = Math.max(this.rate, rate);
    if (!this.cost || cost.total < this.cost.total) this.cost = cost;
  }
}

/**
 * The throughput `cost` allows when every core does nothing but this transfer, in MiB/s.
 * `free`: roles counted as spending nothing, for the ceiling of the path around them (with the
 * gateway free, what the clients, the engine and the rest leave possible whatever it does).
 */
export function cpuCeiling(cost: CpuCost, cores = availableParallelism(), free: readonly Role[] = []): number {
  const spent = free.reduce((total, role) => total - (cost.byRole.get(role) ?? 0), cost.total);
  return (cores * 1024) / spent;
}

/** "7.4 s (gateway 2.3, container engine 3.1, clients 2.0)": the roles that spent at least 0.05 s/GiB. */
export function describeCost(cost: CpuCost): string {
  const parts = [...cost.byRole]
    .filter(([, seconds]) => seconds >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([role, seconds]) => `${role} ${seconds.toFixed(1)}`);
  return `${cost.total.toFixed(1)} s (${parts.join(', ')})`;
}
