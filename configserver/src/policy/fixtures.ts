import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { lintDir } from './lint.ts';
import type { Policy } from './load.ts';
import { getPath, parsePath } from './path.ts';
import { resolve, type ResolveInput } from './render.ts';

/**
 * `policy test` fixtures, Kyverno-style data folders under `policies/tests/`:
 *
 *   <case>/input.yaml     user, groups, claims, sourceAddress, authMethod
 *   <case>/expected.yaml  deny (true or the message), profiles, fields (path → value)
 *   bad-overlays/NNN-<rule>.yaml   a profile lint must reject with <rule>
 */
export const FixtureInputSchema = z.strictObject({
  user: z.string().min(1),
  groups: z.array(z.string()).optional(),
  claims: z.record(z.string(), z.string()).optional(),
  sourceAddress: z.string().default('192.0.2.1'),
  authMethod: z.string().optional(),
});
export type FixtureInput = z.output<typeof FixtureInputSchema>;

export const FixtureExpectedSchema = z.strictObject({
  /** true, or the exact message the user sees. */
  deny: z.union([z.boolean(), z.string()]).optional(),
  /** Matched profiles, in merge order. */
  profiles: z.array(z.string()).optional(),
  /** Rendered field path (as explain prints it) → expected value. */
  fields: z.record(z.string(), z.unknown()).optional(),
});
export type FixtureExpected = z.output<typeof FixtureExpectedSchema>;

export interface CaseResult {
  readonly name: string;
  readonly kind: 'request' | 'lint';
  readonly failures: string[];
  readonly seconds: number;
}

export const BAD_OVERLAYS_DIR = 'bad-overlays';

export function requestFor(input: FixtureInput): ResolveInput {
  const metadata: Record<string, { value: string; sensitive: boolean }> = {};
  if (input.groups) metadata.groups = { value: input.groups.join(','), sensitive: false };
  for (const [claim, value] of Object.entries(input.claims ?? {})) metadata[`claim:${claim}`] = { value, sensitive: false };
  if (input.authMethod) metadata.authMethod = { value: input.authMethod, sensitive: false };
  const address = input.sourceAddress.includes(':') ? `[${input.sourceAddress}]:22` : `${input.sourceAddress}:22`;
  return { username: input.user, authenticatedUsername: input.user, remoteAddress: address, metadata };
}

export function checkCase(policy: Policy, input: FixtureInput, expected: FixtureExpected): string[] {
  const resolution = resolve(requestFor(input), policy);
  const failures: string[] = [];
  if (expected.deny !== undefined) {
    const denied = resolution.deny !== undefined;
    const wanted = expected.deny !== false;
    if (denied !== wanted) failures.push(`expected ${wanted ? 'deny' : 'allow'}, got ${denied ? `deny (${resolution.deny!.profile})` : 'allow'}`);
    else if (typeof expected.deny === 'string' && resolution.deny?.message !== expected.deny) failures.push(`deny message: expected "${expected.deny}", got "${resolution.deny?.message}"`);
  } else if (resolution.deny) failures.push(`unexpected deny by ${resolution.deny.profile}`);
  if (!resolution.deny && resolution.violations.length > 0) failures.push(`fails closed: ${resolution.violations.map((v) => v.rule).join(', ')}`);
  if (expected.profiles) {
    const got = resolution.matched.map(({ profile }) => profile.name);
    if (JSON.stringify(got) !== JSON.stringify(expected.profiles)) failures.push(`profiles: expected [${expected.profiles.join(', ')}], got [${got.join(', ')}]`);
  }
  const rendered = {
    docker: resolution.rendered.docker,
    pod: resolution.rendered.pod,
    environment: resolution.rendered.environment,
    files: resolution.rendered.files,
    session: resolution.rendered.session,
  };
  for (const [path, want] of Object.entries(expected.fields ?? {})) {
    let got: unknown;
    try {
      got = getPath(rendered, parsePath(path));
    } catch (err) {
      failures.push((err as Error).message);
      continue;
    }
    if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`${path}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
  return failures;
}

/** `017-no-privileged.yaml` → `no-privileged`. */
export const ruleOfBadOverlay = (file: string) => file.replace(/^\d+-/, '').replace(/\.ya?ml$/, '');

async function readYaml(file: string): Promise<unknown> {
  return parse(await readFile(file, 'utf8'));
}

/** Runs every case under `testsDir` against the policy in `policyDir`. */
export async function runFixtures(policy: Policy, policyDir: string, testsDir: string): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  let entries: string[] = [];
  try {
    entries = (await readdir(testsDir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const entry of entries) {
    const dir = join(testsDir, entry);
    if (!(await stat(dir)).isDirectory()) continue;
    if (entry === BAD_OVERLAYS_DIR) {
      for (const file of (await readdir(dir)).filter((name) => name.endsWith('.yaml')).sort()) {
        const started = performance.now();
        const rule = ruleOfBadOverlay(file);
        const { diagnostics } = await lintDir(policyDir, [join(dir, file)]);
        const failures = diagnostics.some((d) => d.rule === rule && d.file.endsWith(file))
          ? []
          : [`expected lint rule ${rule} in ${file}, got [${diagnostics.map((d) => `${d.rule}@${d.file}:${d.line}`).join(', ') || 'no findings'}]`];
        results.push({ name: `${BAD_OVERLAYS_DIR}/${file}`, kind: 'lint', failures, seconds: (performance.now() - started) / 1000 });
      }
      continue;
    }
    const started = performance.now();
    let failures: string[];
    try {
      const input = FixtureInputSchema.parse(await readYaml(join(dir, 'input.yaml')));
      const expected = FixtureExpectedSchema.parse(await readYaml(join(dir, 'expected.yaml')));
      failures = checkCase(policy, input, expected);
    } catch (err) {
      failures = [`cannot read the case: ${(err as Error).message.split('\n')[0]}`];
    }
    results.push({ name: entry, kind: 'request', failures, seconds: (performance.now() - started) / 1000 });
  }
  return results;
}

const xml = (text: string) => text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);

/** JUnit XML, one testcase per fixture, as CI systems read it. */
export function junit(results: readonly CaseResult[]): string {
  const failed = results.filter((r) => r.failures.length > 0).length;
  const total = results.reduce((sum, r) => sum + r.seconds, 0);
  const cases = results.map((r) => {
    const head = `    <testcase classname="policy.${r.kind}" name="${xml(r.name)}" time="${r.seconds.toFixed(4)}"`;
    if (r.failures.length === 0) return `${head}/>`;
    return `${head}>\n      <failure message="${xml(r.failures[0]!)}">${xml(r.failures.join('\n'))}</failure>\n    </testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites tests="${results.length}" failures="${failed}" time="${total.toFixed(4)}">\n  <testsuite name="portcullis-policy" tests="${results.length}" failures="${failed}" time="${total.toFixed(4)}">\n${cases.join('\n')}\n  </testsuite>\n</testsuites>\n`;
}
