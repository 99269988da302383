import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { REFERENCE_DIR } from '../../../test/helpers/reference.ts';
import { checkContextFor, createBodyOf, resolve } from '../policy/index.ts';
import { OVERRIDDEN_AT_RESTRICTED } from '../policy/pod-security.ts';
import { repoPolicy, REPO_POLICY_DIR } from '../testing/policy.ts';
import { checkFull } from './check.ts';

const MAIN = join(import.meta.dirname, 'main.ts');
const FIXTURES = join(REFERENCE_DIR, 'pod-security');

/** Runs `policy ARGS` as a real process (stdin from `input`), bounded by a deadline. */
function policy(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--dir', REPO_POLICY_DIR, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`policy ${args.join(' ')} did not finish within 60 s`));
    }, 60_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

async function fixtures(level: string, verdict: 'pass' | 'fail'): Promise<string[]> {
  return (await readdir(join(FIXTURES, level, verdict))).filter((file) => file.endsWith('.yaml')).map((file) => join(FIXTURES, level, verdict, file));
}

/** `runasnonroot0.yaml` → `runasnonroot`; at restricted a replaced baseline check is named by its replacement. */
function expectedCheck(file: string, level: string): string {
  const check = file
    .split('/')
    .at(-1)!
    .replace(/\d*\.yaml$/, '');
  const replaced = Object.entries(OVERRIDDEN_AT_RESTRICTED).find(([id]) => id.toLowerCase() === check);
  return level === 'restricted' && replaced ? replaced[1].toLowerCase() : check;
}

for (const level of ['restricted', 'baseline']) {
  test(`policy check --standard ${level}: every upstream v1.37 fixture gets its verdict, each fail naming its check`, async () => {
    const pass = await fixtures(level, 'pass');
    const fail = await fixtures(level, 'fail');
    assert.ok(pass.length >= 15 && fail.length >= 34, `fixtures found in ${FIXTURES}`);

    const admitted = await policy(['check', '--standard', level, ...pass]);
    assert.equal(admitted.stdout, '', 'no finding for any pass fixture');
    assert.equal(admitted.code, 0, admitted.stderr);
    assert.match(admitted.stderr, new RegExp(`no findings \\(Pod Security ${level} v1\\.37\\)`));

    const refused = await policy(['check', '--standard', level, '--format', 'json', ...fail]);
    assert.equal(refused.code, 1, refused.stderr);
    const report = JSON.parse(refused.stdout) as { file: string; findings: { rule: string; path: string }[] }[];
    assert.equal(report.length, fail.length);
    for (const entry of report) {
      const rules = entry.findings.map((finding) => finding.rule.toLowerCase());
      assert.ok(rules.includes(expectedCheck(entry.file, level)), `${entry.file}: expected ${expectedCheck(entry.file, level)}, got [${rules.join(', ')}]`);
    }
    // Text output: one line per finding, `file: path: rule: message [standard]`.
    const one = await policy(['check', '--standard', level, fail.find((file) => file.endsWith('privileged0.yaml'))!]);
    assert.equal(one.code, 1);
    assert.match(one.stdout, /privileged0\.yaml: spec\.containers\[0\]\.securityContext\.privileged: privileged: privileged must not be true \[Pod Security v1\.37\]/);
  });
}

test('policy check (full): the pod and the Docker create body the engine renders pass, read from stdin', async () => {
  const resolution = resolve({ username: 'alice', remoteAddress: '192.0.2.1:1' }, await repoPolicy());
  assert.deepEqual(resolution.violations, []);
  const pod = { apiVersion: 'v1', kind: 'Pod', ...resolution.rendered.pod };
  const fromYaml = await policy(['check', '-'], stringify(pod));
  assert.equal(fromYaml.code, 0, fromYaml.stdout + fromYaml.stderr);
  assert.match(fromYaml.stderr, /no findings \(the full session check\)/);
  const docker = await policy(['check', '-'], JSON.stringify(createBodyOf(resolution.rendered.docker.execution)));
  assert.equal(docker.code, 0, docker.stdout + docker.stderr);
});

test('policy check (full): stricter than Pod Security only where it matters — requests may default to limits; hostile fields are refused by rule', async () => {
  const policySet = await repoPolicy();
  const context = checkContextFor(policySet);
  const pod = structuredClone(resolve({ username: 'alice', remoteAddress: '192.0.2.1:1' }, policySet).rendered.pod) as {
    spec: { containers: { resources: { requests?: unknown }; securityContext: Record<string, unknown> }[] };
  };
  delete pod.spec.containers[0]!.resources.requests;
  assert.deepEqual(checkFull('pod', pod, context), [], 'Kubernetes sets requests to the limits: not a risk');

  pod.spec.containers[0]!.securityContext.allowPrivilegeEscalation = true;
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-check-'));
  try {
    await writeFile(join(dir, 'pod.yaml'), stringify(pod));
    const full = await policy(['check', join(dir, 'pod.yaml')]);
    assert.equal(full.code, 1);
    assert.match(full.stdout, /pod\.yaml: spec\.containers\[0\]\.securityContext\.allowPrivilegeEscalation: no-privilege-escalation: .*\[Pod Security v1\.37\] \(fix: /);
    // The same pod under Pod Security alone: the upstream check id.
    const restricted = await policy(['check', '--standard', 'restricted', join(dir, 'pod.yaml')]);
    assert.equal(restricted.code, 1);
    assert.match(restricted.stdout, /: allowPrivilegeEscalation: allowPrivilegeEscalation must be false \[Pod Security v1\.37\]/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const docker = await policy(['check', '-'], JSON.stringify({ ...createBodyOf(resolve({ username: 'alice', remoteAddress: '192.0.2.1:1' }, policySet).rendered.docker.execution), Privileged: true }));
  assert.equal(docker.code, 1);
  assert.match(docker.stdout, /^stdin: Privileged: \S+: .*\[session rule\]/m);
});

test('policy check: unreadable or unfit input exits 2 naming the problem, never a stack trace', async () => {
  const cases: [string[], string | undefined, RegExp][] = [
    [['check', '/nonexistent/pod.yaml'], undefined, /policy check: \/nonexistent\/pod\.yaml: cannot read: ENOENT/],
    [['check', '-'], 'spec: [1, 2', /policy check: stdin: not valid YAML or JSON \(line \d+, column \d+\)/],
    [['check', '-'], '', /policy check: stdin: empty; expected one Pod or one Docker create body/],
    [['check', '-'], 'kind: Pod\nspec: {}\n---\nkind: Pod\nspec: {}\n', /policy check: stdin: 2 documents; policy check reads exactly one/],
    [['check', '-'], '- a\n- b\n', /policy check: stdin: a list at the top level/],
    [['check', '-'], 'apiVersion: v1\nkind: ConfigMap\ndata: {}\n', /policy check: stdin: kind "ConfigMap" is not a Pod/],
    [['check', '-'], '{"hello": 1}', /policy check: stdin: neither a Pod .* nor a Docker create body/],
    [['check', '--standard', 'restricted', '-'], '{"Image": "x", "HostConfig": {}}', /Pod Security judges pods; check a Docker create body without --standard/],
    [['check', '--standard', 'privileged', '-'], '{}', /--standard is restricted or baseline, not privileged/],
    [['check'], undefined, /check needs a FILE/],
  ];
  for (const [args, input, message] of cases) {
    const result = await policy(args, input);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(result.stdout, '');
  }
});
