import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { BestRun, cpuCeiling, describeCost, machineBusySeconds, withCpuCost } from './cpu-cost.ts';

const GIB = 1024 ** 3;

/** A child that spins for about `ms` of its own CPU, as a transfer's client would. */
function spin(ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', `const end = process.cpuUsage().user + ${ms * 1000}; while (process.cpuUsage().user < end);`], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`spinner exited ${code}`))));
  });
}

test("a client's CPU is charged to the clients, per GiB moved, and bounds the throughput with every core busy", async () => {
  const { cost } = await withCpuCost(GIB / 2, new Map(), () => spin(300));
  const clients = cost.byRole.get('clients') ?? 0;
  // 0.3 s of CPU for half a GiB is at least 0.6 s per GiB (a node start adds to it).
  assert.ok(clients >= 0.55 && clients < 10, `clients charged ${clients} s/GiB`);
  assert.ok(cost.total >= clients);
  assert.equal(cpuCeiling({ total: 2, byRole: new Map() }, 2), 1024);
  // The path around a free gateway: 2 s per GiB of which the gateway spent 1 leaves 1 s per GiB.
  assert.equal(cpuCeiling({ total: 2, byRole: new Map([['gateway', 1]]) }, 2, ['gateway']), 2048);
  assert.match(describeCost(cost), /^\d+\.\d s \(.*clients \d+\.\d/);
});

test('a process the bench names by pid is charged to its role', async () => {
  const child = spawn(process.execPath, ['-e', 'process.stdin.once("data", () => { const end = process.cpuUsage().user + 300000; while (process.cpuUsage().user < end); process.exit(0); })'], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  await new Promise((resolve) => child.once('spawn', resolve));
  const exited = new Promise((resolve) => child.once('close', resolve));
  // Sampled before it is reaped: its own CPU counts for the gateway role, not for the clients.
  const { cost } = await withCpuCost(GIB, new Map([[child.pid!, 'gateway']]), async () => {
    child.stdin.write('go');
    await new Promise((resolve) => setTimeout(resolve, 0));
    for (let i = 0; i < 200 && ((await readCpu(child.pid!)) ?? 0) < 0.28; i++) await new Promise((resolve) => setTimeout(resolve, 25));
  });
  child.stdin.end();
  await exited;
  assert.ok((cost.byRole.get('gateway') ?? 0) >= 0.25, `gateway charged ${cost.byRole.get('gateway')} s/GiB`);
});

async function readCpu(pid: number): Promise<number | undefined> {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

test("a path's best run keeps its best rate and, from whichever run it was, its cheapest CPU; the machine's busy time grows with a spin", async () => {
  const path = new BestRun();
  const cost = (total: number) => ({ total, byRole: new Map() });
  path.keep(100, cost(3));
  path.keep(120, cost(5));
  path.keep(90, cost(2));
  assert.equal(path.rate, 120);
  assert.equal(path.cost?.total, 2);
  const before = await machineBusySeconds();
  await spin(300);
  assert.ok((await machineBusySeconds()) - before >= 0.25, 'a 0.3 s spin shows in the machine busy time');
});
