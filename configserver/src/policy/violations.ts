/**
 * What a guardrail finding is, what a check needs from the policy, and the small helpers every
 * check shares (pod-guardrails.ts, docker-guardrails.ts, guardrails.ts).
 */
import type { Segment } from './path.ts';
import { formatPath } from './path.ts';
import type { Allowances } from './schema.ts';

export interface Violation {
  readonly rule: string;
  /** Field path (`pod.spec.hostNetwork`, `docker.execution.host.readonlyRootfs`; relative to the object for checkPod/checkDockerCreate). */
  readonly path: string;
  readonly message: string;
  /** `pod-security`: Kubernetes' own restricted check; `session`: an engine rule, stricter than Pod Security. */
  readonly source: 'pod-security' | 'session';
}

export interface Ceilings {
  readonly cpu: number;
  readonly memory: number;
  readonly pids: number;
  /** Bytes: the largest emptyDir sizeLimit (a disk-backed one fills the node's disk up to it). */
  readonly volume: number;
}

/** What a check needs from the policy: the ceilings and what the baseline allows by value. */
export interface CheckContext {
  readonly ceilings: Ceilings;
  readonly allow: Allowances;
}

export type Obj = Record<string, unknown>;
export const obj = (value: unknown): Obj => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Obj) : {});
export const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
export const isSet = (value: unknown) => value !== undefined && value !== null;

/** Same value, key order aside (for exact-value allowances). */
export function sameValue(a: unknown, b: unknown): boolean {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(canonical)
      : value && typeof value === 'object'
        ? Object.fromEntries(
            Object.entries(value)
              .sort(([x], [y]) => (x < y ? -1 : 1))
              .map(([k, v]) => [k, canonical(v)]),
          )
        : value;
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

export type Add = (rule: string, path: Segment[] | string, message: string, source?: Violation['source']) => void;

export function collector(): { out: Violation[]; add: Add } {
  const out: Violation[] = [];
  const seen = new Set<string>();
  const add: Add = (rule, path, message, source = 'session') => {
    const at = typeof path === 'string' ? path : formatPath(path);
    const key = `${rule} ${at}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ rule, path: at, message, source });
  };
  return { out, add };
}
