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
import { checkContextFor, type CheckContext } from '../policy/guardrails.ts';
import { POD_SECURITY_VERSION } from '../policy/pod-security.ts';
import { checkFull, CheckInputError, checkStandard, formatFinding, parseInput, readInput, type Finding } from './check.ts';

export const USAGE = `usage: policy <command> [--dir POLICY_DIR] [options]

  lint [FILE...]                 check baseline.yaml, profiles/*.yaml (and extra profile FILEs)
  test [--tests DIR] [--junit FILE]
                                 run the fixtures in POLICY_DIR/tests (or DIR)
  explain FIXTURE_DIR | --user NAME [--group G]... [--claim k=v]... [--from ADDR] [--auth-method M]
          [--format text|json|yaml]
                                 the rendered session and where every field came from
  render manifests [--reaper-image IMAGE]
                                 the cluster-side objects, as multi-document YAML
  check FILE...|- [--standard restricted|baseline] [--format text|json]
                                 one Pod or Docker Engine API create body per FILE (YAML or JSON;
                                 - reads stdin): every finding with its rule, exit 1 on any.
                                 Default: the full check the engine applies to what it renders
                                 (POLICY_DIR gives ceilings and allowances); --standard: Pod
                                 Security alone, as Kubernetes ${POD_SECURITY_VERSION} judges a pod

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
        standard: { type: 'string' },
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
        const { diagnostics } = await lintDir(
          dir,
          rest.map((file) => resolvePath(file)),
        );
        for (const diagnostic of diagnostics) io.out(`${formatDiagnostic(diagnostic)}\n`);
        // Warnings are printed and counted, but only errors fail lint (as they refuse the set at load).
        const errors = diagnostics.filter((diagnostic) => diagnostic.severity !== 'warning').length;
        const warnings = diagnostics.length - errors;
        io.err(diagnostics.length === 0 ? 'policy lint: no findings\n' : `policy lint: ${errors} error(s), ${warnings} warning(s)\n`);
        return errors === 0 ? 0 : 1;
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
          io.out(
            `${JSON.stringify({ profiles: resolution.matched.map(({ profile, reasons }) => ({ name: profile.name, reasons })), deny: resolution.deny, violations: resolution.violations, fields: explainFields(resolution) }, null, 2)}\n`,
          );
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
      case 'check':
        return await checkCommand(rest, { dir, standard: values.standard, format: values.format }, io);
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

/** `policy check`: 0 no finding, 1 findings, 2 input the check cannot judge or a usage error. */
async function checkCommand(files: string[], options: { dir: string; standard: string | undefined; format: string }, io: Io): Promise<number> {
  if (files.length === 0) {
    io.err(`check needs a FILE (or - for stdin)\n${USAGE}`);
    return 2;
  }
  const { standard } = options;
  if (standard !== undefined && standard !== 'restricted' && standard !== 'baseline') {
    io.err(`check: --standard is restricted or baseline, not ${standard}\n`);
    return 2;
  }
  if (options.format !== 'text' && options.format !== 'json') {
    io.err(`check: --format is text or json, not ${options.format}\n`);
    return 2;
  }
  // The full check judges against this policy's ceilings and allowances; Pod Security needs none.
  let context: CheckContext | undefined;
  if (!standard) context = checkContextFor(await loadPolicy(options.dir));
  let code = 0;
  const report: { file: string; kind?: string; findings?: Finding[]; error?: string }[] = [];
  for (const file of files) {
    const name = file === '-' ? 'stdin' : file;
    try {
      const { kind, value } = parseInput(await readInput(file), name);
      if (standard && kind !== 'pod') throw new CheckInputError(`${name}: Pod Security judges pods; check a Docker create body without --standard`);
      const findings = standard ? checkStandard(value, standard) : checkFull(kind, value, context!);
      report.push({ file: name, kind, findings });
      if (options.format === 'text') for (const finding of findings) io.out(`${formatFinding(name, kind, finding)}\n`);
      if (findings.length > 0) code = Math.max(code, 1);
    } catch (err) {
      if (!(err instanceof CheckInputError)) throw err;
      report.push({ file: name, error: err.message });
      io.err(`policy check: ${err.message}\n`);
      code = 2;
    }
  }
  if (options.format === 'json') io.out(`${JSON.stringify(report, null, 2)}\n`);
  const findings = report.reduce((total, entry) => total + (entry.findings?.length ?? 0), 0);
  const unjudged = report.filter((entry) => entry.error !== undefined).length;
  const against = standard ? `Pod Security ${standard} ${POD_SECURITY_VERSION}` : 'the full session check';
  const summary = [findings === 0 && unjudged === 0 ? 'no findings' : `${findings} finding(s)`, ...(unjudged > 0 ? [`${unjudged} input(s) not checked`] : [])];
  io.err(`policy check: ${summary.join(', ')} (${against})\n`);
  return code;
}

if (process.argv[1] && import.meta.url === new URL(`file://${resolvePath(process.argv[1])}`).href) {
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      // Never a stack trace: the message names the problem.
      process.stderr.write(`policy: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
