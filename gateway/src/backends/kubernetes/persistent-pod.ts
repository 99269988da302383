import type { V1Pod } from '@kubernetes/client-node';
import { GatewayError } from '../../errors.ts';
import { isNotFound, podCreateError, withDeadline } from './api-errors.ts';
import { startPod, waitForPod, type PodLifecycleOptions } from './pod-lifecycle.ts';
import { LABEL_MANAGED_BY, LABEL_PERSISTENT, MANAGED_BY, type PodSettings } from './pod-spec.ts';

/**
 * Finds the persistent pod the config names, or creates it when `createMissingPods` allows
 * (then it waits for it like any pod). A pod of that name that Portcullis did not create as a
 * persistent pod is never used: the name alone must not hand a user someone else's pod. A
 * persistent pod is never deleted by the gateway, nor reaped.
 */
export async function reachPersistentPod(options: PodLifecycleOptions, settings: PodSettings, manifest: V1Pod, onProgress: (line: string) => void): Promise<string> {
  const { cluster, log } = options;
  const name = settings.podName!;
  let existing: V1Pod | undefined;
  try {
    existing = await withDeadline(cluster.core.readNamespacedPod({ name, namespace: cluster.namespace }), options.requestTimeoutMs, 'read pod');
  } catch (error) {
    if (!isNotFound(error)) throw podCreateError(error);
  }
  if (existing?.metadata?.deletionTimestamp) {
    // Being deleted (idle past its timeout, or by hand): a session in it would die with it.
    await waitUntilGone(options, name, settings.startTimeoutMs);
    existing = undefined;
  }
  if (existing) {
    const labels = existing.metadata?.labels ?? {};
    if (labels[LABEL_MANAGED_BY] !== MANAGED_BY || labels[LABEL_PERSISTENT] !== 'true') {
      throw new GatewayError('KUBERNETES_PERSISTENT_POD_FOREIGN', 'Could not start your session: its pod exists but is not managed by Portcullis.');
    }
    // Pending: another connection is creating it right now; wait for it like for our own.
    await waitForPod(options, existing, settings.consoleContainer, settings.startTimeoutMs, onProgress);
    return name;
  }
  if (!settings.createMissingPods) {
    throw new GatewayError('KUBERNETES_PERSISTENT_POD_MISSING', 'Could not start your session: your persistent pod does not exist.', {
      cause: new Error(`no pod named ${name} and createMissingPods is false`),
    });
  }
  const persistent: V1Pod = { ...manifest, metadata: { ...manifest.metadata, name, labels: { ...manifest.metadata?.labels, [LABEL_PERSISTENT]: 'true' } } };
  try {
    await startPod(options, persistent, settings.consoleContainer, settings.startTimeoutMs, onProgress);
  } catch (error) {
    if (!(error instanceof GatewayError && error.code === 'KUBERNETES_POD_CREATE_FAILED' && /already taken/.test(error.userMessage))) throw error;
    // Another gateway created it first: use that one (startPod leaves a pod it did not create alone).
    return reachPersistentPod(options, { ...settings, createMissingPods: false }, manifest, onProgress);
  }
  log.info({ code: 'KUBERNETES_PERSISTENT_POD_CREATED', pod: name }, 'persistent pod created');
  return name;
}

/** Polling, not a watch: a pod terminates within its grace period, so this is short and rare. */
const GONE_POLL_MS = 250;

/** Waits until the named pod no longer exists, within `timeoutMs`. */
async function waitUntilGone(options: PodLifecycleOptions, name: string, timeoutMs: number): Promise<void> {
  const { cluster } = options;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (options.signal?.aborted) break;
    try {
      await withDeadline(cluster.core.readNamespacedPod({ name, namespace: cluster.namespace }), options.requestTimeoutMs, 'read pod');
    } catch (error) {
      if (isNotFound(error)) return;
      throw podCreateError(error);
    }
    await new Promise((resolve) => setTimeout(resolve, GONE_POLL_MS));
  }
  throw new GatewayError('KUBERNETES_POD_START_TIMEOUT', 'Could not start your session: its persistent pod is still being deleted.', {
    cause: new Error(`pod ${name} still terminating`),
  });
}
