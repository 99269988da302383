import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { z } from 'zod';
import { BaselineSchema, ProfileSchema, type Baseline, type ProfileSpec } from './schema.ts';
import { RULES } from './rules.ts';
import { parseSource, positionOf, type Position, type SourceFile } from './source.ts';

export { BaselineSchema, type Baseline } from './schema.ts';

export const BASELINE_FILE = 'baseline.yaml';
export const PROFILES_DIR = 'profiles';

/** One lint finding: where, which rule, what is wrong and how to fix it. */
export interface Diagnostic extends Position {
  readonly rule: string;
  /** A warning is printed but never refuses the set; absent means an error. */
  readonly severity?: 'warning';
  readonly message: string;
  readonly hint: string;
}

export interface Profile {
  /** `name:` from the file, else the file name without `.yaml`. */
  readonly name: string;
  readonly spec: ProfileSpec;
  readonly source: SourceFile;
}

export interface Policy {
  baseline: Baseline;
  /** File the baseline came from, for log lines and error messages. */
  baselineFile: string;
  readonly baselineSource?: SourceFile;
  /** In merge order: ascending priority, then file name. */
  readonly profiles?: readonly Profile[];
  /** The folder this set was read from (hot reload watches it). */
  readonly dir?: string;
}

export class PolicyError extends Error {
  override name = 'PolicyError';
  constructor(
    message: string,
    readonly diagnostics: readonly Diagnostic[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

function schemaDiagnostics(source: SourceFile, error: z.ZodError, prefix: string): Diagnostic[] {
  return error.issues.map((issue) => {
    const segments = issue.path.map((segment) => (typeof segment === 'number' ? segment : String(segment)));
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
    const where = positionOf(source, keys.length > 0 ? [...segments, keys[0]!] : segments);
    // A refinement names its own rule (quantity-format, limit-zero, unknown-field).
    const rule = issue.code === 'custom' && typeof issue.params?.rule === 'string' ? issue.params.rule : 'schema';
    if (rule !== 'schema') return { ...where, rule, message: `${prefix}${segments.join('.')}: ${issue.message}`, hint: RULES[rule] ?? 'see policies/README.md' };
    return {
      ...where,
      rule: 'schema',
      message: `${prefix}${segments.join('.') || '(top level)'}: ${issue.message}`,
      hint: keys.length > 0 ? 'remove the key, or check its spelling against policies/README.md' : "see policies/README.md for the field's type",
    };
  });
}

function parseFile<S extends z.ZodType>(source: SourceFile, schema: S): { value?: z.output<S>; diagnostics: Diagnostic[] } {
  if (source.syntaxErrors.length > 0) {
    return {
      diagnostics: source.syntaxErrors.map(({ message, position }) => ({ ...position, rule: 'yaml-syntax', message, hint: 'fix the YAML syntax' })),
    };
  }
  const result = schema.safeParse(source.value ?? {});
  if (!result.success) return { diagnostics: schemaDiagnostics(source, result.error, '') };
  return { value: result.data, diagnostics: [] };
}

export function parseBaselineSource(text: string, file: string): { baseline?: Baseline; source: SourceFile; diagnostics: Diagnostic[] } {
  const source = parseSource(text, file);
  const { value, diagnostics } = parseFile(source, BaselineSchema);
  return { ...(value ? { baseline: value } : {}), source, diagnostics };
}

export function parseProfileSource(text: string, file: string): { profile?: Profile; diagnostics: Diagnostic[] } {
  const source = parseSource(text, file);
  const { value, diagnostics } = parseFile(source, ProfileSchema);
  if (!value) return { diagnostics };
  return { profile: { name: value.name ?? basename(file).replace(/\.ya?ml$/, ''), spec: value, source }, diagnostics };
}

/** Kept for callers that only need the baseline: throws PolicyError naming the file and field. */
export function parseBaseline(text: string, file: string): Baseline {
  const { baseline, diagnostics } = parseBaselineSource(text, file);
  if (!baseline) {
    const first = diagnostics[0]!;
    throw new PolicyError(`${file}: ${first.rule === 'yaml-syntax' ? `not valid YAML: ${first.message}` : first.message}`, diagnostics);
  }
  return baseline;
}

export function sortProfiles(profiles: Profile[]): Profile[] {
  return profiles.sort((a, b) => a.spec.priority - b.spec.priority || (a.source.file < b.source.file ? -1 : a.source.file > b.source.file ? 1 : 0));
}

/**
 * Reads `<dir>/baseline.yaml` and `<dir>/profiles/*.yaml` without judging them: the parse and
 * schema findings come back as diagnostics, and `policy` is set only if every file parsed.
 * `extraProfiles` adds files from elsewhere (lint of a single overlay file).
 */
export async function readPolicySet(dir: string, extraProfiles: readonly string[] = []): Promise<{ policy?: Policy; partial?: Policy; diagnostics: Diagnostic[] }> {
  const diagnostics: Diagnostic[] = [];
  const baselineFile = join(dir, BASELINE_FILE);
  let text: string;
  try {
    text = await readFile(baselineFile, 'utf8');
  } catch (err) {
    throw new PolicyError(`${baselineFile}: cannot read: ${(err as Error).message}`, [], { cause: err });
  }
  const parsed = parseBaselineSource(text, baselineFile);
  diagnostics.push(...parsed.diagnostics);
  let names: string[] = [];
  try {
    names = (await readdir(join(dir, PROFILES_DIR))).filter((name) => /\.ya?ml$/.test(name) && !name.startsWith('.')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const profiles: Profile[] = [];
  for (const file of [...names.map((name) => join(dir, PROFILES_DIR, name)), ...extraProfiles]) {
    const result = parseProfileSource(await readFile(file, 'utf8'), file);
    diagnostics.push(...result.diagnostics);
    if (result.profile) profiles.push(result.profile);
  }
  if (!parsed.baseline) return { diagnostics };
  const policy: Policy = { baseline: parsed.baseline, baselineFile, baselineSource: parsed.source, profiles: sortProfiles(profiles), dir };
  // With findings, the files that did parse still get linted (`partial`), but nothing serves them.
  return diagnostics.length > 0 ? { partial: policy, diagnostics } : { policy, diagnostics };
}

/** `file:line:column: rule: message (fix: hint)`, as compilers print, so editors can jump to it. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column}: ${d.severity ? `${d.severity}: ` : ''}${d.rule}: ${d.message} (fix: ${d.hint})`;
}

/** For log lines: the file and field first (`baseline.yaml: docker.execution.user: …`), then where. */
export function describeDiagnostic(d: Diagnostic): string {
  return `${d.file}: ${d.message} (line ${d.line}, column ${d.column}; rule ${d.rule}; fix: ${d.hint})`;
}
