#!/usr/bin/env -S node --import tsx
/**
 * `portcullis policy …` (npm run policy -- …): lint, test, explain and render a policy folder.
 * Exit codes: 0 fine, 1 findings or failing fixtures, 2 usage error.
 */
import { writeFile } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { explainFields, explainText, formatDiagnostic, lintDir, loadPolicy, PolicyError, renderedYaml, resolve } from '../policy/index.ts';
import { FixtureInputSchema, junit, requestFor, runFixtures, type FixtureInput } from '../policy/fixtures.ts';
import { manifestsYaml } from '../policy/manifests.ts';

export const USAGE = `usage: policy <command> [--dir POLICY_DIR] [options]

  lint [FILE...]                 check baseline.yaml, profiles/*.yaml (and extra profile FILEs)
  test [--tests DIR] [--junit FILE]
                                 run the fixtures in POLICY_DIR/tests (or DIR)
  explain FIXTURE_DIR | --user NAME [--group G]... [--claim k=v]... [--from ADDR] [--auth-method M]
          [--format text|json|yaml]
                                 the rendered session and where every field came from
  render manifests [--reaper-image IMAGE]
                                 the cluster-side objects, as multi-document YAML

POLICY_DIR defaults to ./policies.
`;

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

export async function runCli(argv: string[], io: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) }): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        dir: { type: 'string', default: 'policies' },
        tests: { type: 'string' },
        junit: { type: 'string' },
        user: { type: 'string' },
        group: { type: 'string', multiple: true },
        claim: { type: 'string', multiple: true },
        from: { type: 'string' },
        'auth-method': { type: 'string' },
        format: { type: 'string', default: 'text' },
        'reaper-image': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    io.err(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    (values.help ? io.out : io.err)(USAGE);
    return values.help ? 0 : 2;
  }
  const dir = resolvePath(values.dir);
  try {
    switch (command) {
      case 'lint': {
        const { diagnostics } = await lintDir(dir, rest.map((file) => resolvePath(file)));
        for (const diagnostic of diagnostics) io.out(`${formatDiagnostic(diagnostic)}\n`);
        io.err(diagnostics.length === 0 ? 'policy lint: no findings\n' : `policy lint: ${diagnostics.length} finding(s)\n`);
        return diagnostics.length === 0 ? 0 : 1;
      }
      case 'test': {
        const policy = await loadPolicy(dir);
        const results = await runFixtures(policy, dir, resolvePath(values.tests ?? join(dir, 'tests')));
        for (const result of results) {
          io.out(`${result.failures.length === 0 ? 'PASS' : 'FAIL'} ${result.name}\n`);
          for (const failure of result.failures) io.out(`     ${failure}\n`);
        }
        const failed = results.filter((result) => result.failures.length > 0).length;
        io.out(`${results.length} fixture(s), ${failed} failed\n`);
        if (values.junit) await writeFile(values.junit, junit(results));
        return failed === 0 && results.length > 0 ? 0 : 1;
      }
      case 'explain': {
        const policy = await loadPolicy(dir);
        let input: FixtureInput;
        if (rest[0]) input = FixtureInputSchema.parse(parse(await readFile(join(rest[0], 'input.yaml'), 'utf8')));
        else if (values.user) {
          const claims = Object.fromEntries((values.claim ?? []).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
          input = FixtureInputSchema.parse({
            user: values.user,
            ...(values.group ? { groups: values.group } : {}),
            ...(values.claim ? { claims } : {}),
            ...(values.from ? { sourceAddress: values.from } : {}),
            ...(values['auth-method'] ? { authMethod: values['auth-method'] } : {}),
          });
        } else {
          io.err(`explain needs a fixture folder or --user\n${USAGE}`);
          return 2;
        }
        const resolution = resolve(requestFor(input), policy);
        if (values.format === 'json') {
          io.out(`${JSON.stringify({ profiles: resolution.matched.map(({ profile, reasons }) => ({ name: profile.name, reasons })), deny: resolution.deny, violations: resolution.violations, fields: explainFields(resolution) }, null, 2)}\n`);
        } else if (values.format === 'yaml') io.out(renderedYaml(resolution, policy.baseline.kubernetes?.namespace ?? 'portcullis-sessions'));
        else io.out(explainText(resolution));
        return resolution.deny || resolution.violations.length > 0 ? 1 : 0;
      }
      case 'render': {
        if (rest[0] !== 'manifests') {
          io.err(`render: only "render manifests" exists\n${USAGE}`);
          return 2;
        }
        const policy = await loadPolicy(dir);
        io.out(manifestsYaml(policy, values['reaper-image'] ? { reaperImage: values['reaper-image'] } : {}));
        return 0;
      }
      default:
        io.err(`unknown command ${command}\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof PolicyError) {
      if (err.diagnostics.length > 0) for (const diagnostic of err.diagnostics) io.err(`${formatDiagnostic(diagnostic)}\n`);
      else io.err(`${err.message}\n`);
      io.err('policy: the policy set does not pass lint\n');
      return 1;
    }
    throw err;
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${resolvePath(process.argv[1])}`).href) {
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`policy: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
