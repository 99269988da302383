import { errors, type ApiError } from './status.ts';
import type { KubeObject, ObjectStore } from './store.ts';
import { parseQuantity } from './quantity.ts';

/**
 * ResourceQuota for the pod count (`pods` and `count/pods` in spec.hard), as the ResourceQuota
 * admission plugin and the quota controller apply it. Other quota resources are stored and
 * reported but not enforced.
 */
const POD_COUNT_KEYS = ['pods', 'count/pods'];

/** A pod counts against quota until it reaches a terminal phase (quota/v1/evaluator/core/pods.go). */
export function podsCharged(store: ObjectStore, namespace: string): number {
  return store.list('pods', namespace).filter((p) => {
    const phase = (p.status as { phase?: string } | undefined)?.phase;
    return phase !== 'Succeeded' && phase !== 'Failed';
  }).length;
}

function hardOf(quota: KubeObject): Record<string, string> {
  return ((quota.spec as { hard?: Record<string, string> } | undefined)?.hard ?? {}) as Record<string, string>;
}

/** The 403 a create of pod `name` gets when a quota in its namespace is used up, or undefined. */
export function checkPodQuota(store: ObjectStore, namespace: string, name: string): ApiError | undefined {
  const used = podsCharged(store, namespace);
  for (const quota of store.list('resourcequotas', namespace)) {
    const hard = hardOf(quota);
    for (const key of POD_COUNT_KEYS) {
      if (hard[key] === undefined) continue;
      const limit = parseQuantity(hard[key]) ?? 0;
      if (used + 1 > limit) {
        return errors.forbidden({ group: '', resource: 'pods' }, name, `exceeded quota: ${quota.metadata.name}, requested: ${key}=1, used: ${key}=${used}, limited: ${key}=${hard[key]}`);
      }
    }
  }
  return undefined;
}

/** Keeps every quota's status.hard/used current, as the quota controller does. */
export function refreshQuotaStatus(store: ObjectStore, namespace: string): void {
  const used = podsCharged(store, namespace);
  for (const quota of store.list('resourcequotas', namespace)) {
    const hard = hardOf(quota);
    const usedMap: Record<string, string> = {};
    for (const key of Object.keys(hard)) usedMap[key] = POD_COUNT_KEYS.includes(key) ? String(used) : '0';
    store.mutate('resourcequotas', namespace, quota.metadata.name, (q) => {
      q.status = { hard: { ...hard }, used: usedMap };
    });
  }
}
