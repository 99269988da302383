import type { V1Pod } from '@kubernetes/client-node';
import { GatewayError } from '../../errors.ts';

/** Where a starting pod stands, as its status shows it. */
export type PodState =
  | { readonly kind: 'running' }
  | { readonly kind: 'pending'; readonly stage: 'scheduling' | 'starting'; readonly line: string }
  | { readonly kind: 'failed'; readonly error: GatewayError };

/** Waiting reasons that mean the image will not come (kubelet's image manager names them). */
const IMAGE_PULL_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'RegistryUnavailable', 'ImageInspectError']);
/** Waiting reasons after which the container will not start by itself. */
const START_FAILED_REASONS = new Set(['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError', 'CrashLoopBackOff', 'PreStartHookError', 'PostStartHookError']);

/**
 * Reads a pod's status during start. Fails fast on what will not resolve by waiting (image pull
 * failure, unschedulable, container errors, an ended pod); the caller's timeout covers the rest.
 * Messages name the problem for the user; the API's own text goes to the cause.
 */
export function classifyPod(pod: V1Pod, consoleContainer: string): PodState {
  const status = pod.status ?? {};
  const statuses = [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])];
  const console = status.containerStatuses?.find((container) => container.name === consoleContainer);
  const image = pod.spec?.containers.find((container) => container.name === consoleContainer)?.image ?? 'its image';
  const detail = (reason: string | undefined, message: string | undefined) => new Error(`${reason ?? 'unknown'}: ${message ?? 'no message'}`);

  for (const container of statuses) {
    const waiting = container.state?.waiting;
    if (waiting?.reason && IMAGE_PULL_REASONS.has(waiting.reason)) {
      return {
        kind: 'failed',
        error: new GatewayError('KUBERNETES_IMAGE_PULL_FAILED', `Could not start your session: its image ${container.image ?? image} could not be pulled.`, {
          cause: detail(waiting.reason, waiting.message),
        }),
      };
    }
    if (waiting?.reason && START_FAILED_REASONS.has(waiting.reason)) {
      return {
        kind: 'failed',
        error: new GatewayError('KUBERNETES_POD_WAIT_FAILED', 'Could not start your session: its container could not be started.', { cause: detail(waiting.reason, waiting.message) }),
      };
    }
  }
  if (status.phase === 'Failed' || status.phase === 'Succeeded' || console?.state?.terminated) {
    const terminated = console?.state?.terminated;
    return {
      kind: 'failed',
      error: new GatewayError('KUBERNETES_POD_WAIT_FAILED', 'Could not start your session: its pod stopped as soon as it started.', {
        cause: detail(terminated?.reason ?? status.reason ?? status.phase, terminated ? `exit ${terminated.exitCode} ${terminated.message ?? ''}` : status.message),
      }),
    };
  }
  if (status.phase === 'Running' && console?.state?.running) return { kind: 'running' };

  const scheduled = status.conditions?.find((condition) => condition.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    return {
      kind: 'failed',
      error: new GatewayError('KUBERNETES_POD_UNSCHEDULABLE', 'Could not start your session: the cluster has no room for its pod right now.', {
        cause: detail(scheduled.reason, scheduled.message),
      }),
    };
  }
  if (scheduled?.status !== 'True' && !pod.spec?.nodeName) {
    return { kind: 'pending', stage: 'scheduling', line: 'Waiting for the cluster to schedule your session pod' };
  }
  const waitingReason = console?.state?.waiting?.reason;
  const where = pod.spec?.nodeName ? ` on ${pod.spec.nodeName}` : '';
  return {
    kind: 'pending',
    stage: 'starting',
    line:
      waitingReason === 'ContainerCreating' || !console
        ? `Session pod scheduled${where}: pulling image ${image} and starting it`
        : `Session pod scheduled${where}: starting (${waitingReason ?? 'waiting for its container'})`,
  };
}
