/**
 * `policy test` speed: 500 request fixtures (generated in a temporary folder against the
 * repository's policy set) run through the same runner the CLI uses. Goal: under 2 s.
 * Run: `npm run bench -- --only policy-test` (with `--smoke`, a 50-fixture check that it still works).
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { loadPolicy } from '../configserver/src/policy/index.ts';
import { runFixtures } from '../configserver/src/policy/fixtures.ts';
import type { BenchOptions, Row } from './lib/table.ts';

const POLICY_DIR = fileURLToPath(new URL('../policies', import.meta.url));

/** Five kinds of user, cycled: data science, contractor, developer on the office network, denied, nobody. */
function fixture(index: number): { input: object; expected: object } {
  switch (index % 5) {
    case 0:
      return { input: { user: `ds-${index}`, groups: ['data-science'] }, expected: { profiles: ['data-science'], fields: { 'docker.execution.host.memory': 2 ** 31 } } };
    case 1:
      return { input: { user: `contractor-${index}` }, expected: { profiles: ['contractors'], fields: { 'pod.spec.containers[0].resources.limits.memory': '256Mi' } } };
    case 2:
      return { input: { user: `dev-${index}`, groups: ['developers'], sourceAddress: `10.1.${index % 250}.7` }, expected: { profiles: ['developers'] } };
    case 3:
      return { input: { user: `svc-${index}` }, expected: { deny: true } };
    default:
      return { input: { user: `user-${index}` }, expected: { profiles: [], fields: { 'docker.execution.host.memory': 536870912 } } };
  }
}

export async function run(options: BenchOptions): Promise<Row[]> {
  const count = options.smoke ? 50 : 500;
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-bench-policy-'));
  try {
    for (let index = 0; index < count; index++) {
      const { input, expected } = fixture(index);
      const caseDir = join(dir, `case-${String(index).padStart(4, '0')}`);
      await mkdir(caseDir);
      await writeFile(join(caseDir, 'input.yaml'), stringify(input));
      await writeFile(join(caseDir, 'expected.yaml'), stringify(expected));
    }
    const started = performance.now();
    const policy = await loadPolicy(POLICY_DIR);
    const results = await runFixtures(policy, POLICY_DIR, dir);
    const seconds = (performance.now() - started) / 1000;
    const failed = results.filter((result) => result.failures.length > 0);
    if (results.length !== count || failed.length > 0)
      throw new Error(
        `bench fixtures failed: ${failed
          .map((f) => `${f.name}: ${f.failures[0]}`)
          .slice(0, 3)
          .join('; ')}`,
      );
    return [
      { benchmark: 'policy-test', measure: `${count} fixtures (load + lint + run)`, value: seconds * 1000, unit: 'ms', goal: '< 2000 ms for 500', ...(options.smoke ? {} : { met: seconds < 2 }) },
      { benchmark: 'policy-test', measure: 'per fixture', value: (seconds * 1e6) / count, unit: 'µs', goal: '' },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
