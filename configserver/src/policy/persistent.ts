import { createHash } from 'node:crypto';
import type { ConfigResponse } from '@portcullis/wire';

/**
 * The container or pod a `persistent` profile keeps for one user: readable, a DNS label (so it
 * is a valid pod and container name), and unique per user. The hash keeps two users whose names
 * reduce to the same readable part (`Ann.B`, `ann-b`) from ever sharing one.
 */
export function persistentName(username: string): string {
  const readable = username
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  const hash = createHash('sha256').update(username).digest('hex').slice(0, 10);
  return `portcullis-${readable ? `${readable}-` : ''}${hash}`;
}

/**
 * Names the user's own container or pod in an answer whose mode is `persistent`, created on
 * first use. A candidate answer in, a candidate out: the caller validates it against the wire.
 */
export function withPersistentTarget(candidate: { config: Record<string, unknown> }, username: string): { config: Record<string, unknown> } {
  const config = candidate.config as Partial<ConfigResponse['config']>;
  const name = persistentName(username);
  if (config.kubernetes?.pod.mode === 'persistent') {
    return { ...candidate, config: { ...candidate.config, kubernetes: { ...config.kubernetes, pod: { ...config.kubernetes.pod, podName: name, createMissingPods: true } } } };
  }
  if (config.docker?.execution.mode === 'persistent') {
    return { ...candidate, config: { ...candidate.config, docker: { ...config.docker, execution: { ...config.docker.execution, containerName: name, createMissingContainers: true } } } };
  }
  return candidate;
}
