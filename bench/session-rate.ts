/**
 * New sessions per second: parallel clients each connect, log in with a key (auth webhook
 * over a kept-alive mTLS connection), run one command on the no-op backend, and leave.
 * Baseline: the same against a bare ssh2 server. Goal: ≥ 150/s on this 2-core machine.
 * The clients share the machine's cores with the servers, as a real load test would not.
 */
import { execToEnd, login } from './lib/ssh2-client.ts';
import type { BenchOptions, Row } from './lib/table.ts';
import { bareServer, noopGateway, type SshTarget } from './lib/targets.ts';

const WORKERS = 16;

async function rate(target: SshTarget, seconds: number): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let completed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (performance.now() < deadline) {
        const client = await login(target.port, target.username, { privateKey: target.privateKey });
        await execToEnd(client, 'exit 0');
        client.end();
        completed += 1;
      }
    }),
  );
  return completed / ((performance.now() - started) / 1000);
}

export async function run(options: BenchOptions): Promise<Row[]> {
  const seconds = options.smoke ? 2 : 15;
  const gateway = await noopGateway();
  const bare = await bareServer();
  try {
    await rate(gateway, 1); // warm-up
    const ours = await rate(gateway, seconds);
    const theirs = await rate(bare, seconds);
    return [
      {
        benchmark: 'session rate',
        measure: `connect + key login + one command + close, ${WORKERS} clients, ${seconds} s`,
        value: ours,
        unit: 'sessions/s',
        baseline: { label: bare.label, value: theirs },
        ratio: ours / theirs,
        goal: '≥ 150/s',
        met: options.smoke ? undefined : ours >= 150,
      },
    ];
  } finally {
    await bare.stop();
    await gateway.stop();
  }
}
