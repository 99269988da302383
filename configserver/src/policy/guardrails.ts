/**
 * Guardrails: what every rendered session must satisfy, whatever the profiles say. A positive
 * model: every field of the pod (all containers, init and ephemeral) and of the Docker create body
 * is one the engine sets, or one an explicit rule below judges by value; any other field is
 * refused. On top, the pod must pass Pod Security `restricted` (pod-security.ts) and the session
 * rules, and resources stay within the baseline's ceilings. Overlays can set fields but never
 * delete them, so a rule that demands the hardened value makes relaxing a security field impossible.
 */
import type { Policy } from './load.ts';
import type { Rendered } from './merge.ts';
import { defaultPod } from './merge.ts';
import { checkPod } from './pod-guardrails.ts';
import { checkDockerCreate, createBodyOf, executionPath } from './docker-guardrails.ts';
import { formatPath } from './path.ts';
import { cpuMillis, memoryBytes } from './quantity.ts';
import { NO_ALLOWANCES, type Baseline } from './schema.ts';
import { isLoaderVariable } from './environment.ts';
import { collector, list, obj, type Ceilings, type CheckContext, type Obj, type Violation } from './violations.ts';

export { RULES } from './rules.ts';
export { checkPod } from './pod-guardrails.ts';
export { checkDockerCreate, createBodyOf } from './docker-guardrails.ts';
export type { Ceilings, CheckContext, Violation } from './violations.ts';

/** Effective ceilings: those declared, else the baseline's own limits. */
export function ceilingsOf(baseline: Baseline, basePod: Obj): Ceilings {
  const limits = obj(obj(obj(list(obj(basePod.spec).containers)[0]).resources).limits);
  // The baseline's own emptyDirs set how large one may be; without any, the memory ceiling.
  const volumeSizes = list(obj(basePod.spec).volumes).map((volume) => memoryBytes(String(obj(obj(volume).emptyDir).sizeLimit ?? '')) ?? 0);
  return {
    volume: Math.max(...volumeSizes, 0) || (memoryBytes(baseline.ceilings.memory ?? String(limits.memory ?? '')) ?? 512 * 2 ** 20),
    cpu: cpuMillis(baseline.ceilings.cpu ?? String(limits.cpu ?? '')) ?? Math.round((baseline.docker.execution.host.nanoCpus ?? 1e9) / 1e6),
    memory: memoryBytes(baseline.ceilings.memory ?? String(limits.memory ?? '')) ?? baseline.docker.execution.host.memory ?? 512 * 2 ** 20,
    pids: baseline.ceilings.pids ?? baseline.docker.execution.host.pidsLimit ?? 256,
  };
}

/** The baseline's own pod: its limits are the default ceilings. */
export function basePod(policy: Policy): Obj {
  return (policy.baseline.kubernetes?.pod as Obj | undefined) ?? defaultPod(policy.baseline.docker.execution);
}

export function checkContextFor(policy: Policy): CheckContext {
  return { ceilings: ceilingsOf(policy.baseline, basePod(policy)), allow: policy.baseline.allow ?? NO_ALLOWANCES };
}

/**
 * The gateway's own bookkeeping labels and annotations (owner instance, connection, persistent,
 * idle timers): set by a policy, a container would escape the reaper or another user's pod be
 * mistaken for it. The engine itself sets only `portcullis.io/egress-<profile>`, on the pod.
 */
const RESERVED_PREFIX = 'portcullis.io/';
const EGRESS_PREFIX = 'portcullis.io/egress-';

/**
 * Both renderings of one session: the pod, the Docker container, the answer's environment, and
 * that the two backends agree on image and limits.
 */
export function checkGuardrails(rendered: Pick<Rendered, 'docker' | 'pod'> & Partial<Pick<Rendered, 'environment' | 'session'>>, context: CheckContext): Violation[] {
  const { out, add } = collector();
  for (const violation of checkPod(rendered.pod, context)) add(violation.rule, `pod.${violation.path}`, violation.message, violation.source);
  const execution = rendered.docker.execution;
  for (const violation of checkDockerCreate(createBodyOf(execution), context)) add(violation.rule, executionPath(violation.path), violation.message, violation.source);
  // A policy's labels only: the pods and containers the gateway creates carry these, set by it.
  const podMetadata = obj(rendered.pod.metadata);
  const egressProfiles = new Set((rendered.session?.egress ?? []).map((rule) => rule.profile));
  for (const [field, map, at] of [
    ['labels', podMetadata.labels, 'pod.metadata.labels'],
    ['annotations', podMetadata.annotations, 'pod.metadata.annotations'],
    ['labels', execution.container.labels, 'docker.execution.container.labels'],
  ] as const) {
    for (const key of Object.keys(obj(map))) {
      if (!key.startsWith(RESERVED_PREFIX)) continue;
      // An egress label selects the pod into that profile's NetworkPolicy: only the engine sets it, for a profile whose egress the session has.
      if (key.startsWith(EGRESS_PREFIX) && at === 'pod.metadata.labels') {
        if (!egressProfiles.has(key.slice(EGRESS_PREFIX.length))) add('reserved-labels', `${at}${formatPath([key])}`, `label ${key} would give this session the egress of a profile it does not match`);
        continue;
      }
      add('reserved-labels', `${at}${formatPath([key])}`, `${field.slice(0, -1)} ${key} belongs to the gateway's bookkeeping`);
    }
  }
  for (const name of Object.keys(rendered.environment ?? {})) {
    if (isLoaderVariable(name) && !context.allow.environment.includes(name)) add('no-loader-env', ['environment', name], `${name} changes the dynamic loader or the shell`);
  }

  // ---- both renderings describe the same session ----
  const d = 'docker.execution';
  const host = execution.host;
  const container = obj(list(obj(rendered.pod.spec).containers)[0]);
  if (container.image !== undefined && container.image !== execution.container.image) add('backends-agree', `${d}.container.image`, 'the Docker image and the pod image differ');
  const limits = obj(obj(container.resources).limits);
  const podMemory = limits.memory === undefined ? undefined : memoryBytes(String(limits.memory));
  if (podMemory !== undefined && host.memory !== undefined && podMemory !== host.memory) add('backends-agree', `${d}.host.memory`, 'the Docker memory limit and the pod memory limit differ');
  const podCpu = limits.cpu === undefined ? undefined : cpuMillis(String(limits.cpu));
  if (podCpu !== undefined && host.nanoCpus !== undefined && podCpu * 1e6 !== host.nanoCpus) add('backends-agree', `${d}.host.nanoCpus`, 'the Docker CPU limit and the pod CPU limit differ');
  return out;
}
