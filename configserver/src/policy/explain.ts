import { stringify } from 'yaml';
import type { Resolution } from './render.ts';
import { formatPath, type Segment } from './path.ts';
import type { Origin } from './merge.ts';

function leaves(value: unknown, segments: Segment[], out: [string, unknown][]) {
  if (Array.isArray(value) && value.length > 0)
    value.forEach((item, index) => {
      leaves(item, [...segments, index], out);
    });
  else if (value && typeof value === 'object' && Object.keys(value).length > 0) {
    for (const [key, item] of Object.entries(value)) leaves(item, [...segments, key], out);
  } else out.push([formatPath(segments), value]);
}

const where = (origin: Origin | undefined) => (!origin ? '(computed)' : origin.from === 'default' ? 'built-in default' : `${origin.file}:${origin.line}:${origin.column} (${origin.from})`);

/** Field path → value → origin, for every leaf of the rendered result. */
export function explainFields(resolution: Resolution): { path: string; value: unknown; origin: string }[] {
  const { rendered } = resolution;
  const out: [string, unknown][] = [];
  leaves({ docker: rendered.docker, pod: rendered.pod, environment: rendered.environment, files: rendered.files, session: rendered.session }, [], out);
  return out.map(([path, value]) => {
    let origin = rendered.origins.get(path);
    // A file's value has one origin: the overlay entry that wrote it.
    if (!origin && path.startsWith('files')) origin = rendered.origins.get(path.replace(/\.(value|sensitive|mode)$/, ''));
    return { path, value, origin: where(origin) };
  });
}

/** The human-readable explain report (`--format json` gives the same as data). */
export function explainText(resolution: Resolution): string {
  const lines: string[] = [];
  const { subject } = resolution;
  lines.push(
    `subject: user=${subject.username} groups=[${subject.groups.join(',')}] claims=${JSON.stringify(subject.claims)} address=${subject.address ?? '-'} authMethod=${subject.authMethod ?? '-'}`,
  );
  lines.push('', 'profiles (merge order; later wins):');
  if (resolution.matched.length === 0) lines.push('  (none matched: the baseline applies)');
  for (const { profile, reasons } of resolution.matched) {
    lines.push(`  ${profile.name} (priority ${profile.spec.priority}, ${profile.source.file})${profile.spec.deny ? ' DENY' : ''}: ${reasons.join('; ')}`);
  }
  if (resolution.deny) lines.push('', `result: DENIED by ${resolution.deny.profile}: ${resolution.deny.message}`);
  else if (resolution.violations.length > 0) {
    lines.push('', 'result: FAILS CLOSED (guardrail violations):');
    for (const violation of resolution.violations) lines.push(`  ${violation.rule}: ${violation.path}: ${violation.message}`);
  } else lines.push('', 'result: allowed');
  lines.push('', 'fields:');
  const fields = explainFields(resolution);
  const width = Math.min(70, Math.max(...fields.map(({ path, value }) => `${path} = ${JSON.stringify(value)}`.length)));
  for (const { path, value, origin } of fields) lines.push(`  ${`${path} = ${JSON.stringify(value)}`.padEnd(width)}  ← ${origin}`);
  return `${lines.join('\n')}\n`;
}

/** The rendered session as YAML documents: the pod spec and the Docker execution. */
export function renderedYaml(resolution: Resolution, namespace: string): string {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'session-', namespace, ...(resolution.rendered.pod.metadata as object) }, spec: resolution.rendered.pod.spec };
  return `${stringify(pod)}---\n${stringify({ docker: resolution.rendered.docker })}`;
}
