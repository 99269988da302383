import type { V1Pod } from '@kubernetes/client-node';
import { GatewayError, isGatewayError } from '../../errors.ts';
import { errorFields, type Logger } from '../../observability/index.ts';
import { describeApiFailure, isNotFound, podCreateError, withDeadline } from './api-errors.ts';
import type { Cluster } from './cluster.ts';
import { classifyPod, type PodState } from './pod-status.ts';

/** Progress lines while a pod starts: the first at once, then at least this often. */
const PROGRESS_EVERY_MS = 1_500;
/** A watch the server ends before the pod is Running is opened again, at most this many times. */
const MAX_WATCHES = 20;

export interface PodLifecycleOptions {
  readonly cluster: Cluster;
  readonly requestTimeoutMs: number;
  readonly log: Logger;
  /** Aborted when the client left: a start stops waiting at once and deletes its pod. */
  readonly signal?: AbortSignal;
}

/** A pod this connection owns: deleted when released. */
export interface OwnedPod {
  readonly name: string;
  /** Deletes the pod; "already gone" is success. Never throws. */
  release(): Promise<void>;
}

/**
 * Creates the pod and waits, with a watch, until its console container runs. Progress lines go
 * to `onProgress` (the first before the create call, then at least every 1.5 s). On any
 * failure the pod is deleted (if it was created, or if the create's answer was lost) and a
 * GatewayError naming the problem is thrown.
 */
export async function startPod(options: PodLifecycleOptions, manifest: V1Pod, consoleContainer: string, startTimeoutMs: number, onProgress: (line: string) => void): Promise<OwnedPod> {
  const { cluster, log } = options;
  const name = manifest.metadata!.name!;
  const owned: OwnedPod = { name, release: () => deletePod(options, name) };
  onProgress('Creating your session pod');
  const started = Date.now();
  let current = 'Creating your session pod';
  let conflict = false;
  const ticker = setInterval(() => onProgress(`${current} (${Math.round((Date.now() - started) / 1000)} s)`), PROGRESS_EVERY_MS);
  try {
    log.debug({ code: 'KUBERNETES_POD_CREATE', pod: name, namespace: cluster.namespace }, 'creating pod');
    let created: V1Pod;
    try {
      created = await withDeadline(cluster.core.createNamespacedPod({ namespace: cluster.namespace, body: manifest }), options.requestTimeoutMs, 'create pod');
    } catch (error) {
      // 409: a pod of that name exists and is not this call's to delete.
      if (describeApiFailure(error).status === 409) conflict = true;
      throw podCreateError(error);
    }
    if (options.signal?.aborted) throw abandoned(name);
    log.debug({ code: 'KUBERNETES_POD_WAIT', pod: name }, 'waiting for the pod to run');
    await waitUntilRunning(options, created, consoleContainer, { deadline: started + startTimeoutMs, ms: startTimeoutMs }, (line) => {
      if (line === current) return;
      current = line;
      onProgress(line);
    });
    onProgress('Session pod running');
    return owned;
  } catch (error) {
    // The pod may exist even when the create call failed (its answer lost, or given up on).
    if (!conflict) await owned.release();
    throw isGatewayError(error) ? error : podCreateError(error);
  } finally {
    clearInterval(ticker);
  }
}

/** Waits, with a watch, until a pod that exists already (`pod` as last read) runs. */
export function waitForPod(options: PodLifecycleOptions, pod: V1Pod, consoleContainer: string, timeoutMs: number, onLine: (line: string) => void): Promise<void> {
  return waitUntilRunning(options, pod, consoleContainer, { deadline: Date.now() + timeoutMs, ms: timeoutMs }, onLine);
}

/** Watches one pod until Running, a failure, or the deadline; re-opens the watch if the server ends it. */
async function waitUntilRunning(options: PodLifecycleOptions, created: V1Pod, consoleContainer: string, timeout: { deadline: number; ms: number }, onLine: (line: string) => void): Promise<void> {
  const { deadline } = timeout;
  const { cluster, log } = options;
  const name = created.metadata!.name!;
  const settle = (pod: V1Pod): PodState => {
    const state = classifyPod(pod, consoleContainer);
    if (state.kind === 'pending') onLine(state.line);
    return state;
  };
  let state = settle(created);
  let resourceVersion = created.metadata?.resourceVersion;
  for (let watches = 0; state.kind === 'pending'; watches++) {
    const remaining = deadline - Date.now();
    if (remaining <= 0 || watches >= MAX_WATCHES) throw startTimeout(timeout.ms, name);
    if (options.signal?.aborted) throw abandoned(name);
    const outcome = await watchOnce(cluster, name, resourceVersion, remaining, options.signal, (pod) => {
      resourceVersion = pod.metadata?.resourceVersion ?? resourceVersion;
      return settle(pod);
    });
    if (outcome.kind === 'state') state = outcome.state;
    else if (outcome.kind === 'deleted') {
      throw new GatewayError('KUBERNETES_POD_WAIT_FAILED', 'Could not start your session: its pod was deleted while it started.');
    } else if (outcome.kind === 'timeout') throw startTimeout(timeout.ms, name);
    else if (outcome.kind === 'abandoned') throw abandoned(name);
    else {
      // The watch ended (server timeout, 410 Gone, a dropped connection): read the pod, then watch again.
      if (outcome.error) log.debug({ code: 'KUBERNETES_POD_WAIT', pod: name, ...errorFields(outcome.error) }, 'watch ended; reading the pod');
      let pod: V1Pod;
      try {
        pod = await withDeadline(cluster.core.readNamespacedPod({ name, namespace: cluster.namespace }), options.requestTimeoutMs, 'read pod');
      } catch (error) {
        if (isNotFound(error)) throw new GatewayError('KUBERNETES_POD_WAIT_FAILED', 'Could not start your session: its pod was deleted while it started.', { cause: error });
        throw podCreateError(error);
      }
      resourceVersion = pod.metadata?.resourceVersion;
      state = settle(pod);
    }
  }
  if (state.kind === 'failed') throw state.error;
}

type WatchOutcome = { kind: 'state'; state: Exclude<PodState, { kind: 'pending' }> } | { kind: 'deleted' } | { kind: 'timeout' } | { kind: 'abandoned' } | { kind: 'ended'; error?: unknown };

/** One watch request, resolved by the first decisive event, its end, or `ms`. */
async function watchOnce(cluster: Cluster, name: string, resourceVersion: string | undefined, ms: number, signal: AbortSignal | undefined, onPod: (pod: V1Pod) => PodState): Promise<WatchOutcome> {
  let abort: AbortController | undefined;
  let finish!: (outcome: WatchOutcome) => void;
  const result = new Promise<WatchOutcome>((resolve) => (finish = resolve));
  const timer = setTimeout(() => finish({ kind: 'timeout' }), ms);
  const onAbort = () => finish({ kind: 'abandoned' });
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    abort = await cluster.watch.watch(
      `/api/v1/namespaces/${cluster.namespace}/pods`,
      {
        fieldSelector: `metadata.name=${name}`,
        ...(resourceVersion ? { resourceVersion } : {}),
        timeoutSeconds: Math.max(1, Math.ceil(ms / 1000)),
      },
      (type: string, object: unknown) => {
        if (type === 'DELETED') return finish({ kind: 'deleted' });
        if (type === 'ERROR') return finish({ kind: 'ended', error: new Error(`watch error: ${JSON.stringify(object).slice(0, 300)}`) });
        if (type !== 'ADDED' && type !== 'MODIFIED') return;
        const state = onPod(object as V1Pod);
        if (state.kind !== 'pending') finish({ kind: 'state', state });
      },
      (error: unknown) => finish({ kind: 'ended', ...(error ? { error } : {}) }),
    );
    const outcome = await result;
    if (outcome.kind === 'ended' && outcome.error && describeApiFailure(outcome.error).transport) {
      throw podCreateError(outcome.error);
    }
    return outcome;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    abort?.abort();
  }
}

/** The client left before the pod ran; the caller deletes the pod. */
function abandoned(name: string): GatewayError {
  return new GatewayError('KUBERNETES_POD_START_ABANDONED', 'The client left before its session pod was running.', {
    cause: new Error(`pod ${name} abandoned while starting`),
  });
}

function startTimeout(ms: number, name: string): GatewayError {
  return new GatewayError('KUBERNETES_POD_START_TIMEOUT', `Could not start your session: its pod did not start within ${Math.round(ms / 1000)} s.`, {
    cause: new Error(`pod ${name} not running by the start deadline`),
  });
}

/** Deletes a pod; "already gone" is success. Never throws. */
export async function deletePod(options: PodLifecycleOptions, name: string): Promise<void> {
  const { cluster, log } = options;
  try {
    await withDeadline(cluster.core.deleteNamespacedPod({ name, namespace: cluster.namespace, gracePeriodSeconds: 1 }), options.requestTimeoutMs, 'delete pod');
    log.debug({ code: 'KUBERNETES_POD_REMOVE_SUCCESSFUL', pod: name }, 'pod removed');
  } catch (error) {
    if (isNotFound(error)) return;
    // The reaper tries again: the pod carries this instance's labels.
    log.error({ code: 'KUBERNETES_POD_REMOVE_FAILED', pod: name, ...errorFields(error) }, 'pod not removed');
  }
}
