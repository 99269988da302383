#!/usr/bin/env node
// Runs the test files with Node's test runner in three tiers, cheapest first (Node 20's --test
// does not expand globs, so the files are listed here):
//   unit         in-process only, no child process and no Docker: runs in parallel
//   integration  *.integration.test.ts: real programs (our own started as processes, Docker,
//                ssh-keygen, a KDC, Chromium, kubectl) but no SSH login end to end
//   e2e          test/e2e, test/chaos, test/load, test/fuzz, bench/: the whole system with real
//                clients, one file at a time (they share the Docker engine and its counts)
//
//   node scripts/run-tests.mjs                      every tier, in that order
//   node scripts/run-tests.mjs --unit [--e2e]       only the named tiers
//   node scripts/run-tests.mjs [TIER...] WORD...    only files whose path contains a WORD
//   --keep-going                                    run the later tiers after a tier failed
//
// A failed tier stops the run (the later tiers cost minutes) unless --keep-going; each tier
// ends with Node's own pass/fail summary, and the run ends with one line per tier.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIRS = ['wire', 'kit', 'pki', 'authserver', 'configserver', 'gateway', 'test', 'policies', 'bench'];
const E2E_DIRS = ['test/e2e/', 'test/chaos/', 'test/load/', 'test/fuzz/', 'bench/'];

// Node 20 applies --test-timeout to each FILE (its child process is sent SIGTERM): it is the
// backstop here. Each end-to-end test carries its own, smaller deadline (test/helpers/deadlines.ts).
const TIERS = [
  { name: 'unit', concurrency: availableParallelism(), fileTimeoutMs: 120_000 },
  { name: 'integration', concurrency: availableParallelism(), fileTimeoutMs: 300_000 },
  { name: 'e2e', concurrency: 1, fileTimeoutMs: process.env.PORTCULLIS_LONG === '1' ? 14_400_000 : 1_200_000 },
];

/** The tier a test file belongs to, by where it lives and what it is called. */
function tierOf(file) {
  const path = file.split('\\').join('/');
  if (E2E_DIRS.some((dir) => path.startsWith(dir))) return 'e2e';
  if (path.endsWith('.integration.test.ts')) return 'integration';
  return 'unit';
}

const args = process.argv.slice(2);
const OPTIONS = new Set([...TIERS.map((tier) => `--${tier.name}`), '--keep-going']);
const unknown = args.filter((a) => a.startsWith('--') && !OPTIONS.has(a));
if (unknown.length > 0) {
  console.error(`run-tests: unknown option ${unknown.join(' ')}\nusage: node scripts/run-tests.mjs [--unit] [--integration] [--e2e] [--keep-going] [WORD...]`);
  process.exit(2);
}
const keepGoing = args.includes('--keep-going');
const named = TIERS.filter((tier) => args.includes(`--${tier.name}`));
const selected = named.length > 0 ? named : TIERS;
const words = args.filter((a) => !a.startsWith('--'));

function walk(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (err.code === 'ENOENT') return out;
    throw err;
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile() && e.name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

let files = DIRS.flatMap((d) => walk(join(root, d), []));
if (words.length > 0) files = files.filter((f) => words.some((w) => f.includes(w)));
files.sort();
const plan = selected.map((tier) => ({ ...tier, files: files.filter((f) => tierOf(f) === tier.name) })).filter((tier) => tier.files.length > 0);

if (plan.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}

let current;
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => current?.kill(sig));

// TAP on stdout as before; a spec report on the side gives the list of failing tests, which
// is printed again at the end of a failed tier so a CI log shows them in one place.
const reports = mkdtempSync(join(tmpdir(), 'portcullis-tests-'));
process.on('exit', () => rmSync(reports, { recursive: true, force: true }));

function failingTests(report) {
  let text;
  try {
    text = readFileSync(report, 'utf8');
  } catch {
    return '';
  }
  const at = text.lastIndexOf('failing tests:');
  return at === -1 ? '' : text.slice(at);
}

function runTier(tier) {
  const report = join(reports, `${tier.name}.spec`);
  const reporters = ['--test-reporter=tap', '--test-reporter-destination=stdout', '--test-reporter=spec', `--test-reporter-destination=${report}`];
  const nodeArgs = ['--import', 'tsx', '--test', ...reporters, `--test-concurrency=${tier.concurrency}`, `--test-timeout=${tier.fileTimeoutMs}`, ...tier.files];
  console.log(`run-tests: ${tier.name} tier: ${tier.files.length} files, ${tier.concurrency} at a time`);
  const started = performance.now();
  return new Promise((resolve) => {
    current = spawn(process.execPath, nodeArgs, { cwd: root, stdio: 'inherit' });
    current.on('exit', (code, signal) => {
      current = undefined;
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const outcome = signal ? `killed by ${signal}` : code === 0 ? 'passed' : `failed (exit ${code})`;
      if (code !== 0) console.log(`run-tests: ${tier.name} tier ${outcome}; ${failingTests(report) || 'see the output above'}`);
      resolve({ name: tier.name, files: tier.files.length, ok: code === 0 && !signal, line: `${tier.name}: ${tier.files.length} files ${outcome} in ${seconds} s` });
    });
  });
}

const results = [];
for (const tier of plan) {
  const result = await runTier(tier);
  results.push(result);
  if (!result.ok && !keepGoing) break;
}
const skipped = plan.slice(results.length).map((tier) => `${tier.name}: ${tier.files.length} files not run (an earlier tier failed; --keep-going runs them)`);
console.log(['run-tests: summary', ...results.map((r) => r.line), ...skipped].join('\n  '));
process.exit(results.every((r) => r.ok) && skipped.length === 0 ? 0 : 1);
