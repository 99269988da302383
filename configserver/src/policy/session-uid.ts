import { createHash } from 'node:crypto';
import type { ConfigResponse } from '@portcullis/wire';

/** The range per-user uids are derived into (baseline `sessionUids`). */
export interface UidRange {
  readonly min: number;
  readonly max: number;
}

/**
 * A uid of the user's own, the same at every login and on every configserver replica: the
 * first 48 bits of SHA-256(username) reduced into [min, max]. Distinct users get distinct uids
 * unless two names hash to the same slot; with the default range of about two billion uids, a
 * directory of 10,000 users has such a pair with probability about 2.5 %. Two users sharing a
 * uid still never share a container; they share only per-uid kernel limits. Where that matters,
 * a profile pins the uid for its users (`docker.user`, `pod.spec.securityContext`), which wins.
 */
export function sessionUid(username: string, range: UidRange): number {
  const slot = createHash('sha256').update(username, 'utf8').digest().readUIntBE(0, 6);
  return range.min + (slot % (range.max - range.min + 1));
}

/**
 * The answer with the rendered session uid `from` replaced by `to` wherever it names the session
 * user: the container's `user`, the tmpfs `uid=`/`gid=` options (the home is then the user's),
 * and the pod's runAsUser/runAsGroup/fsGroup. The gid becomes the uid too: a group of one.
 * Only values equal to `from` change, so a field a profile set to something else stays.
 */
export function withSessionUid(answer: ConfigResponse, from: number, to: number): ConfigResponse {
  const config = answer.config;
  if (config.docker) {
    const { execution } = config.docker;
    const user = execution.container.user?.split(':');
    const tmpfs = execution.host.tmpfs
      ? Object.fromEntries(Object.entries(execution.host.tmpfs).map(([path, options]) => [path, options.replace(new RegExp(`\\b([ug]id)=${from}\\b`, 'g'), `$1=${to}`)]))
      : undefined;
    const docker = {
      ...config.docker,
      execution: {
        ...execution,
        container: { ...execution.container, ...(user && Number(user[0]) === from ? { user: `${to}:${to}` } : {}) },
        host: { ...execution.host, ...(tmpfs ? { tmpfs } : {}) },
      },
    };
    return { ...answer, config: { ...config, docker } };
  }
  if (config.kubernetes) {
    const { pod } = config.kubernetes;
    const swap = (context: unknown, fields: readonly string[]) =>
      Object.fromEntries(Object.entries(context as Record<string, unknown>).map(([key, value]) => [key, fields.includes(key) && value === from ? to : value]));
    const spec = {
      ...pod.spec,
      ...(pod.spec.securityContext ? { securityContext: swap(pod.spec.securityContext, ['runAsUser', 'runAsGroup', 'fsGroup']) } : {}),
      containers: pod.spec.containers.map((container) => (container.securityContext ? { ...container, securityContext: swap(container.securityContext, ['runAsUser', 'runAsGroup']) } : container)),
    };
    return { ...answer, config: { ...config, kubernetes: { ...config.kubernetes, pod: { ...pod, spec } } } };
  }
  return answer;
}
