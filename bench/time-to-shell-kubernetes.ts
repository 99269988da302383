/**
 * Time from TCP connect to the first byte of `echo x` through Portcullis with the Kubernetes
 * backend (connection mode, a pod per connection) against the test Kubernetes API server, next
 * to a baseline from the same run: a bare ssh2 login plus the same pod started directly with
 * client-node (create, watch until Running, exec, first byte). The difference is the gateway's
 * own overhead (webhooks, its watch and progress lines, its exec). Goal: ≤ baseline + 50 ms.
 */
import type { TestContext } from 'node:test';
import { KubernetesConfigSchema } from '@portcullis/wire';
import { connectCluster } from '../gateway/src/backends/kubernetes/index.ts';
import { execProgram } from '../gateway/src/backends/kubernetes/pod-exec.ts';
import { deletePod, startPod } from '../gateway/src/backends/kubernetes/pod-lifecycle.ts';
import { podManifest, podSettings } from '../gateway/src/backends/kubernetes/pod-spec.ts';
import { createLogger } from '../gateway/src/observability/index.ts';
import { hardenedPod, SESSION_NAMESPACE, worldWithPod } from '../test/helpers/kubernetes.ts';
import { percentile } from './lib/stats.ts';
import type { BenchOptions, Row } from './lib/table.ts';
import { bareServer, timeShell } from './time-to-shell.ts';

/** Just enough of node:test's context for the test helpers' cleanup hooks. */
function cleanupContext(): { t: TestContext; cleanup: () => Promise<void> } {
  const hooks: Array<() => unknown> = [];
  return {
    t: { after: (hook: () => unknown) => void hooks.push(hook) } as unknown as TestContext,
    cleanup: async () => {
      for (const hook of hooks) await hook();
    },
  };
}

export async function run(options: BenchOptions): Promise<Row[]> {
  const runs = options.smoke ? 3 : 20;
  const { t, cleanup } = cleanupContext();
  const bare = await bareServer();
  try {
    const pod = hardenedPod({ mode: 'connection' });
    const kube = await worldWithPod(t, pod, { world: { logLevel: 'info' } });
    const { world } = kube;
    const kubeconfig = await kube.kube.writeKubeconfig(`${world.dir}/bench-kubeconfig`, { namespace: SESSION_NAMESPACE });
    const cluster = connectCluster({ kubeconfig, namespace: SESSION_NAMESPACE, inCluster: false, startTimeout: 60_000, requestTimeout: 10_000, heartbeatInterval: 5_000, heartbeatTimeout: 20_000, reapInterval: 5_000 });
    const log = createLogger('error');
    const settings = podSettings(KubernetesConfigSchema.parse({ pod }), SESSION_NAMESPACE, 60_000);
    let sequence = 0;
    /** The same pod, started and exec'd with client-node directly: create → Running → exec → first byte. */
    const direct = async (): Promise<number> => {
      const started = performance.now();
      const name = `bench-direct-${process.pid}-${(sequence += 1)}`;
      const lifecycle = { cluster, requestTimeoutMs: 10_000, log };
      const manifest = podManifest(settings, SESSION_NAMESPACE, name, { instanceId: 'bench', connectionId: 'bench' });
      // Without the instance label the gateway's reaper does not take it for a dead instance's pod.
      delete manifest.metadata!.labels!['portcullis.io/instance'];
      await startPod(lifecycle, manifest, settings.consoleContainer, 60_000, () => undefined);
      try {
        const session = await execProgram(cluster, name, settings, { command: 'echo x', env: {} }, 10_000, log);
        await new Promise((resolve) => session.stdout.once('data', resolve));
        const elapsed = performance.now() - started;
        session.stdout.resume();
        await session.exited;
        return elapsed;
      } finally {
        await deletePod(lifecycle, name);
      }
    };
    const viaGateway = () => timeShell(world.sshPort, world.username, { password: world.password });
    await viaGateway();
    await direct();
    const samples = { gateway: [] as number[], bare: [] as number[], direct: [] as number[] };
    for (let i = 0; i < runs; i += 1) {
      samples.gateway.push(await viaGateway());
      samples.bare.push(await timeShell(bare.port, 'bench', { password: 'bench' }));
      samples.direct.push(await direct());
    }
    const baseline = percentile(samples.bare, 50) + percentile(samples.direct, 50);
    const median = percentile(samples.gateway, 50);
    return [
      {
        benchmark: 'time to shell (Kubernetes, test API server)',
        measure: `password, pod per connection, median of ${runs} (p95 ${percentile(samples.gateway, 95).toFixed(0)} ms)`,
        value: median,
        unit: 'ms',
        baseline: { label: 'bare ssh2 login + client-node create/watch/exec', value: baseline },
        ratio: median / baseline,
        goal: '≤ baseline + 50 ms',
        met: median <= baseline + 50,
      },
      {
        benchmark: 'time to shell (Kubernetes, test API server)',
        measure: `gateway overhead: median minus baseline, of ${runs}`,
        value: median - baseline,
        unit: 'ms',
        goal: '(reference, no goal)',
      },
    ];
  } finally {
    bare.close();
    await cleanup();
  }
}
