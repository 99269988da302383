import { randomBytes } from 'node:crypto';
import type { ObjectStore } from './store.ts';
import { newUid } from './pod-spec.ts';

export interface EventSource {
  component: 'kubelet' | 'default-scheduler';
  host?: string;
}

/** Records a core/v1 Event about a pod, as the scheduler and kubelet do. */
export function recordPodEvent(
  store: ObjectStore,
  pod: { metadata: { name: string; namespace?: string; uid: string } },
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
  source: EventSource,
  fieldPath?: string,
): void {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const namespace = pod.metadata.namespace ?? 'default';
  const involvedObject: Record<string, unknown> = {
    kind: 'Pod',
    namespace,
    name: pod.metadata.name,
    uid: pod.metadata.uid,
    apiVersion: 'v1',
  };
  if (fieldPath) involvedObject.fieldPath = fieldPath;
  store.create('events', {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: {
      name: `${pod.metadata.name}.${randomBytes(8).toString('hex')}`,
      namespace,
      uid: newUid(),
      resourceVersion: '',
      creationTimestamp: now,
    },
    involvedObject,
    reason,
    message,
    source: source.host ? { component: source.component, host: source.host } : { component: source.component },
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
    type,
    eventTime: null,
    reportingComponent: source.component,
    reportingInstance: source.host ?? '',
  });
}
