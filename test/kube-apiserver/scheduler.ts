import { parseQuantity } from './quantity.ts';
import type { Pod } from './pod-spec.ts';

/** The one node this server schedules onto. */
export interface NodeModel {
  name: string;
  labels: Record<string, string>;
  /** Allocatable resources as quantities (`cpu: "4"`, `memory: "8Gi"`, `pods: "110"`). */
  capacity: { cpu: string; memory: string; pods: string };
}

export const DEFAULT_NODE: NodeModel = {
  name: 'portcullis-test-node',
  labels: { 'kubernetes.io/hostname': 'portcullis-test-node', 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' },
  capacity: { cpu: '64', memory: '256Gi', pods: '110' },
};

export function podRequests(pod: Pod): { cpu: number; memory: number } {
  let cpu = 0;
  let memory = 0;
  for (const c of pod.spec.containers) {
    cpu += parseQuantity(c.resources?.requests?.cpu) ?? 0;
    memory += parseQuantity(c.resources?.requests?.memory) ?? 0;
  }
  return { cpu, memory };
}

/**
 * Why `pod` does not fit on `node` next to `placed`, in the scheduler's FailedScheduling
 * wording, or undefined when it fits.
 */
export function unschedulableReason(pod: Pod, node: NodeModel, placed: Pod[]): string | undefined {
  const selector = pod.spec.nodeSelector ?? {};
  if (Object.entries(selector).some(([k, v]) => node.labels[k] !== v)) {
    return "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.";
  }
  const want = podRequests(pod);
  const used = placed.reduce(
    (sum, p) => {
      const r = podRequests(p);
      return { cpu: sum.cpu + r.cpu, memory: sum.memory + r.memory };
    },
    { cpu: 0, memory: 0 },
  );
  const reasons: string[] = [];
  if (want.cpu > 0 && used.cpu + want.cpu > (parseQuantity(node.capacity.cpu) ?? 0)) reasons.push('1 Insufficient cpu');
  if (want.memory > 0 && used.memory + want.memory > (parseQuantity(node.capacity.memory) ?? 0)) reasons.push('1 Insufficient memory');
  if (placed.length + 1 > (parseQuantity(node.capacity.pods) ?? 0)) reasons.push('1 Too many pods');
  if (reasons.length === 0) return undefined;
  return `0/1 nodes are available: ${reasons.sort().join(', ')}. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.`;
}
