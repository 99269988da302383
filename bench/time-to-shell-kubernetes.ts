/**
 * Time from TCP connect to the first byte of `echo x` through Portcullis with the Kubernetes
 * backend (pod per connection) against the test Kubernetes API server, next to a baseline
 * measured in the same run: a bare ssh2 handshake + login with no backend, plus the same pod
 * started directly with client-node (create → watch until Running → exec → first byte).
 * Ours minus the direct pod path is the gateway's own overhead. Goal: ≤ baseline + 50 ms.
 *
 * Every wait here is bounded and every stream is consumed and closed: an unread stderr
 * stream never emits 'end', a watch stays open until aborted, and client-node's Exec calls
 * its status callback only if a status frame arrives (not when the socket just closes).
 */
import { PassThrough } from 'node:stream';
import type { V1Pod } from '@kubernetes/client-node';
import { generateParsableKeyPair } from '../gateway/src/listener/index.ts';
import { hardenedPod, SESSION_NAMESPACE, worldWithPod } from '../test/helpers/kubernetes.ts';
import { kubeClients, type KubeClients } from '../test/kube-apiserver/client.ts';
import { percentile } from './lib/stats.ts';
import { cleanupContext } from './lib/cleanup-context.ts';
import type { BenchOptions, Row } from './lib/table.ts';
import { bareServer, timeShell } from './time-to-shell.ts';

const BENCHMARK = 'time to shell (Kubernetes)';
const START_TIMEOUT_MS = 60_000;
const EXEC_TIMEOUT_MS = 20_000;

/** Rejects after `ms` unless `work` settles first; the timer never outlives the race. */
async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The pod the gateway creates for a session (the same spec), under a name and label of the bench's own. */
function directPod(name: string): V1Pod {
  const template = hardenedPod() as { spec: V1Pod['spec'] };
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { 'portcullis.io/bench': 'direct' } }, spec: template.spec };
}

/** Watches one pod until Running; the watch is aborted on every outcome, even if it opens after the end. */
async function watchUntilRunning(clients: KubeClients, name: string): Promise<void> {
  let settled = false;
  let controller: AbortController | undefined;
  try {
    await within(
      new Promise<void>((resolve, reject) => {
        clients.watch
          .watch(
            `/api/v1/namespaces/${SESSION_NAMESPACE}/pods`,
            { fieldSelector: `metadata.name=${name}` },
            (type, object: V1Pod) => {
              if (type === 'DELETED') reject(new Error(`pod ${name} was deleted while starting`));
              else if (object.status?.phase === 'Running') resolve();
              else if (object.status?.phase === 'Failed' || object.status?.phase === 'Succeeded') reject(new Error(`pod ${name} ended: ${object.status.phase}`));
            },
            (error: unknown) => reject(new Error(`watch of ${name} ended before Running (${String(error)})`)),
          )
          .then((opened) => {
            controller = opened;
            if (settled) opened.abort();
          }, reject);
      }),
      START_TIMEOUT_MS,
      `pod ${name} Running`,
    );
  } finally {
    settled = true;
    controller?.abort();
  }
}

/**
 * Runs `/bin/bash -c 'echo x'` in the pod over pods/exec and resolves with the time of its first
 * stdout byte, after the exec has ended (status frame, or the socket closing without one).
 */
async function execFirstByte(clients: KubeClients, name: string): Promise<number> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stderr.resume();
  let firstByteAt: number | undefined;
  const firstByte = new Promise<void>((resolve) => stdout.once('data', () => ((firstByteAt = performance.now()), resolve())));
  stdout.on('data', () => undefined);
  let socket: Awaited<ReturnType<KubeClients['exec']['exec']>> | undefined;
  let abandoned = false;
  try {
    await within(
      new Promise<void>((resolve, reject) => {
        const connecting = clients.exec.exec(SESSION_NAMESPACE, name, 'shell', ['/bin/bash', '-c', 'echo x'], stdout, stderr, null, false, (status) => {
          if (status.status === 'Success') resolve();
          else reject(new Error(`exec in ${name} failed: ${status.message ?? status.reason ?? 'unknown'}`));
        });
        connecting.then(
          (opened) => {
            socket = opened;
            if (abandoned) opened.close();
            // Without a status frame the callback never runs: the socket's close ends the wait.
            opened.once('close', () => resolve());
          },
          (error: unknown) => reject(error instanceof Error ? error : new Error(`exec in ${name}: ${(error as { message?: string }).message ?? String(error)}`)),
        );
      }),
      EXEC_TIMEOUT_MS,
      `exec in ${name}`,
    );
    await within(firstByte, 1_000, `first byte from ${name}`);
    return firstByteAt!;
  } finally {
    abandoned = true;
    socket?.close();
    stdout.destroy();
    stderr.destroy();
  }
}

/** The direct path: create → watch Running → exec → first byte; the pod is deleted (untimed) after. */
async function timeDirectPod(clients: KubeClients, name: string): Promise<number> {
  const started = performance.now();
  try {
    await within(clients.core.createNamespacedPod({ namespace: SESSION_NAMESPACE, body: directPod(name) }), EXEC_TIMEOUT_MS, `create ${name}`);
    await watchUntilRunning(clients, name);
    return (await execFirstByte(clients, name)) - started;
  } finally {
    await within(clients.core.deleteNamespacedPod({ name, namespace: SESSION_NAMESPACE, gracePeriodSeconds: 0 }), EXEC_TIMEOUT_MS, `delete ${name}`).catch(() => undefined);
  }
}

export async function run(options: BenchOptions): Promise<Row[]> {
  const runs = options.smoke ? 3 : 20;
  const { t, cleanup } = cleanupContext();
  const key = generateParsableKeyPair('ed25519');
  const bare = await bareServer();
  let clients: KubeClients | undefined;
  try {
    const { world, kube } = await worldWithPod(t, hardenedPod({ mode: 'connection' }), { world: { logLevel: 'info', authorizedKeys: [key.public] } });
    clients = await kubeClients(kube, SESSION_NAMESPACE);
    const direct = clients;
    let sequence = 0;
    const viaPassword = () => within(timeShell(world.sshPort, world.username, { password: world.password }), START_TIMEOUT_MS, 'shell through the gateway');
    const viaKey = () => within(timeShell(world.sshPort, world.username, { privateKey: key.private }), START_TIMEOUT_MS, 'shell through the gateway');
    const viaBare = () => within(timeShell(bare.port, 'bench', { password: 'bench' }), EXEC_TIMEOUT_MS, 'bare ssh2 login');
    const viaDirect = () => timeDirectPod(direct, `bench-direct-${process.pid}-${(sequence += 1)}`);
    // One warm-up each, so first-use costs (module loading, TLS session setup) are not counted.
    await viaPassword();
    await viaKey();
    await viaBare();
    await viaDirect();
    const samples = { publicKey: [] as number[], password: [] as number[], bare: [] as number[], direct: [] as number[] };
    for (let i = 0; i < runs; i += 1) {
      samples.publicKey.push(await viaKey());
      samples.password.push(await viaPassword());
      samples.bare.push(await viaBare());
      samples.direct.push(await viaDirect());
    }
    const directMedian = percentile(samples.direct, 50);
    const baseline = percentile(samples.bare, 50) + directMedian;
    const rows = (login: string, values: number[]): Row[] => {
      const median = percentile(values, 50);
      return [
        {
          benchmark: BENCHMARK,
          measure: `${login}, pod per connection, test API server, median of ${runs} (p95 ${percentile(values, 95).toFixed(0)} ms)`,
          value: median,
          unit: 'ms',
          baseline: { label: 'bare ssh2 login + client-node create/watch Running/exec', value: baseline },
          ratio: median / baseline,
          goal: '≤ baseline + 50 ms',
          met: median <= baseline + 50,
        },
        {
          benchmark: BENCHMARK,
          measure: `${login}: gateway overhead, ours minus the direct pod path (median ${directMedian.toFixed(0)} ms, p95 ${percentile(samples.direct, 95).toFixed(0)} ms)`,
          value: median - directMedian,
          unit: 'ms',
          goal: '(reference, no goal)',
        },
      ];
    };
    return [...rows('public key', samples.publicKey), ...rows('password (argon2id verify)', samples.password)];
  } finally {
    bare.close();
    await clients?.dispose();
    // Stops the gateway, deletes any pod left and closes the test API server (bounded in the helper).
    await cleanup();
  }
}
