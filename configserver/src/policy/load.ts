import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DockerExecutionSchema } from '@portcullis/wire';
import { parse } from 'yaml';
import { z } from 'zod';

/**
 * baseline.yaml: the hardened session every user gets before any profile applies. The Docker
 * part is exactly the wire's DockerExecutionSchema, so a baseline that loads is one the
 * gateway can run; unknown keys are errors, never silently dropped.
 */
export const BaselineSchema = z.strictObject({
  docker: z.strictObject({ execution: DockerExecutionSchema }),
});
export type Baseline = z.output<typeof BaselineSchema>;

export interface Policy {
  baseline: Baseline;
  /** File the baseline came from, for log lines and error messages. */
  baselineFile: string;
}

export class PolicyError extends Error {
  override name = 'PolicyError';
}

export const BASELINE_FILE = 'baseline.yaml';

/** Loads `<policyDir>/baseline.yaml`; errors name the file and the path inside it. */
export async function loadPolicy(policyDir: string): Promise<Policy> {
  const file = join(policyDir, BASELINE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new PolicyError(`${file}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  return { baseline: parseBaseline(text, file), baselineFile: file };
}

export function parseBaseline(text: string, file: string): Baseline {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new PolicyError(`${file}: not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const result = BaselineSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new PolicyError(`${file}: ${issue?.path.map(String).join('.') || '(top level)'}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}
