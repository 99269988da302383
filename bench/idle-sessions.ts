/**
 * Memory per idle session: N authenticated connections, each with an open shell session,
 * on the gateway with the no-op backend; the gateway process's resident memory grows by
 * this much per session. Baseline: the same on a bare ssh2 server. Goal: 1,000 sessions at
 * ≤ 80 KiB each.
 */
import type ssh2 from 'ssh2';
import { login } from './lib/ssh2-client.ts';
import type { BenchOptions, Row } from './lib/table.ts';
import { bareServer, noopGateway, type SshTarget } from './lib/targets.ts';

const BATCH = 25;

async function perSession(target: SshTarget, sessions: number): Promise<number> {
  const clients: ssh2.Client[] = [];
  try {
    // Warm up: the first logins load code and fill pools that are not per-session costs.
    for (let i = 0; i < 10; i += 1) (await login(target.port, target.username, { privateKey: target.privateKey })).end();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = await target.rss();
    for (let opened = 0; opened < sessions; opened += BATCH) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(BATCH, sessions - opened) }, async () => {
          const client = await login(target.port, target.username, { privateKey: target.privateKey });
          await new Promise<void>((resolve, reject) => client.shell(false, (error) => (error ? reject(error) : resolve())));
          return client;
        }),
      );
      clients.push(...batch);
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    return ((await target.rss()) - before) / sessions;
  } finally {
    for (const client of clients) client.end();
  }
}

export async function run(options: BenchOptions): Promise<Row[]> {
  const sessions = options.smoke ? 50 : 1000;
  const gateway = await noopGateway();
  const bare = await bareServer();
  try {
    const ours = (await perSession(gateway, sessions)) / 1024;
    const theirs = (await perSession(bare, sessions)) / 1024;
    return [
      {
        benchmark: 'idle sessions',
        measure: `gateway RSS per idle session, ${sessions} sessions`,
        value: ours,
        unit: 'KiB',
        baseline: { label: bare.label, value: theirs },
        ratio: ours / theirs,
        goal: '≤ 80 KiB at 1,000 sessions',
        met: sessions >= 1000 ? ours <= 80 : undefined,
      },
    ];
  } finally {
    await bare.stop();
    await gateway.stop();
  }
}
