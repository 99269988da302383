/**
 * `policy check FILE|-`: one Pod or one Docker Engine API create body, judged by hand or in CI.
 * By default the full check the engine applies to every session it renders (Kubernetes' schema,
 * the field allowlist, Pod Security `restricted` and the engine's stricter session rules); with
 * `--standard restricted|baseline`, Pod Security alone, as Kubernetes v1.37 judges a pod.
 */
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { checkDockerCreate, checkPod, type CheckContext, type Violation } from '../policy/guardrails.ts';
import { podSchemaErrors, unknownFields } from '../policy/kubernetes-schema.ts';
import { formatPath } from '../policy/path.ts';
import { checkPodOs, checkPodSecurity, POD_SECURITY_VERSION, type PodSecurityLevel } from '../policy/pod-security.ts';
import { RULES } from '../policy/rules.ts';

/** A spec is a few KiB; this bounds what a pipe can make the tool hold. */
export const MAX_INPUT_BYTES = 4 * 2 ** 20;

export type CheckedKind = 'pod' | 'docker';

export interface Finding {
  readonly rule: string;
  /** Field path inside the checked object. */
  readonly path: string;
  readonly message: string;
  /**
   * `pod-security`: Kubernetes' Pod Security check; `kubernetes`: the API server's own validation
   * (schema, `spec.os`); `session`: an engine rule stricter than Pod Security.
   */
  readonly source: 'pod-security' | 'kubernetes' | 'session';
  readonly hint?: string;
}

/** Input the check cannot judge (unreadable, not YAML/JSON, not one Pod or create body): exit 2. */
export class CheckInputError extends Error {
  override name = 'CheckInputError';
}

/** Reads FILE, or stdin for `-`, bounded to MAX_INPUT_BYTES. */
export async function readInput(file: string, stdin: AsyncIterable<Buffer | string> = process.stdin): Promise<string> {
  if (file !== '-') {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new CheckInputError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (Buffer.byteLength(text) > MAX_INPUT_BYTES) throw new CheckInputError(`${file}: larger than ${MAX_INPUT_BYTES} bytes; one Pod or create body is expected`);
    return text;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > MAX_INPUT_BYTES) throw new CheckInputError(`stdin: larger than ${MAX_INPUT_BYTES} bytes; one Pod or create body is expected`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The one document in `text` (YAML or JSON), and which kind of object it is. */
export function parseInput(text: string, name: string): { kind: CheckedKind; value: Record<string, unknown> } {
  const documents = parseAllDocuments(text, { uniqueKeys: true });
  if (!Array.isArray(documents)) throw new CheckInputError(`${name}: empty; expected one Pod or one Docker create body (YAML or JSON)`);
  const present = documents.filter((document) => document.contents !== null || document.errors.length > 0);
  for (const document of present) {
    const error = document.errors[0];
    if (error) {
      const line = error.linePos?.[0];
      throw new CheckInputError(`${name}: not valid YAML or JSON${line ? ` (line ${line.line}, column ${line.col})` : ''}: ${error.message.split('\n')[0]}`);
    }
  }
  if (present.length === 0) throw new CheckInputError(`${name}: empty; expected one Pod or one Docker create body (YAML or JSON)`);
  if (present.length > 1) throw new CheckInputError(`${name}: ${present.length} documents; policy check reads exactly one Pod or Docker create body`);
  const value: unknown = present[0]!.toJS({ maxAliasCount: 100 });
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CheckInputError(`${name}: a ${Array.isArray(value) ? 'list' : typeof value} at the top level; expected one Pod or one Docker create body (an object)`);
  }
  const object = value as Record<string, unknown>;
  if (object.kind !== undefined && object.kind !== 'Pod') throw new CheckInputError(`${name}: kind ${JSON.stringify(object.kind)} is not a Pod; policy check reads one Pod or one Docker create body`);
  if (object.kind === 'Pod' || 'spec' in object) return { kind: 'pod', value: object };
  if ('Image' in object || 'HostConfig' in object) return { kind: 'docker', value: object };
  throw new CheckInputError(`${name}: neither a Pod (kind: Pod, spec) nor a Docker create body (Image, HostConfig)`);
}

const fromViolation = (violation: Violation): Finding => ({
  rule: violation.rule,
  path: violation.path,
  message: violation.message,
  source: violation.source,
  ...(RULES[violation.rule] ? { hint: RULES[violation.rule] } : {}),
});

/** The full check the engine applies to what it renders. */
export function checkFull(kind: CheckedKind, value: unknown, context: CheckContext): Finding[] {
  return (kind === 'pod' ? checkPod(value, context) : checkDockerCreate(value, context)).map(fromViolation);
}

/**
 * Pod Security `level` alone, as Kubernetes judges the pod: it must first be a Pod the API server
 * accepts (known fields, schema types, `spec.os` rules), then pass every check of the level.
 */
export function checkStandard(value: unknown, level: PodSecurityLevel): Finding[] {
  const findings: Finding[] = [];
  for (const field of unknownFields(value, 'V1Pod')) {
    findings.push({
      rule: 'unknown-field',
      path: formatPath(field.path),
      message: `${String(field.path.at(-1))} is not a field of Kubernetes' ${field.model.replace(/^V1/, '')}`,
      source: 'kubernetes',
    });
  }
  for (const error of podSchemaErrors(value)) findings.push({ rule: 'kubernetes-schema', path: error.path, message: error.message, source: 'kubernetes' });
  for (const violation of checkPodOs(value)) findings.push({ rule: violation.check, path: violation.path, message: violation.message, source: 'kubernetes' });
  for (const violation of checkPodSecurity(value, level)) findings.push({ rule: violation.check, path: violation.path, message: violation.message, source: 'pod-security' });
  return findings;
}

const SOURCE_NOTE: Record<Finding['source'], string> = {
  'pod-security': `Pod Security ${POD_SECURITY_VERSION}`,
  kubernetes: 'Kubernetes API validation',
  session: 'session rule, stricter than Pod Security',
};

/** `NAME: PATH: RULE: MESSAGE [which standard] (fix: HINT)`, one finding per line. */
export function formatFinding(name: string, kind: CheckedKind, finding: Finding): string {
  // Pod Security has no say over a Docker container: there every rule is the engine's own.
  const note = kind === 'docker' && finding.source === 'session' ? 'session rule' : SOURCE_NOTE[finding.source];
  return `${name}: ${finding.path || '(top level)'}: ${finding.rule}: ${finding.message} [${note}]${finding.hint ? ` (fix: ${finding.hint})` : ''}`;
}
