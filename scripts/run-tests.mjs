#!/usr/bin/env node
// Runs the test files with Node's test runner (Node 20's --test does not expand
// globs, so the files are listed here).
//   node scripts/run-tests.mjs            every *.test.ts
//   node scripts/run-tests.mjs --unit     only files outside test/ (no Docker, no SSH)
//   node scripts/run-tests.mjs [--unit] WORD...   only files whose path contains a WORD
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIRS = ['wire', 'kit', 'pki', 'authserver', 'configserver', 'gateway', 'test', 'policies', 'bench'];

const args = process.argv.slice(2);
const unit = args.includes('--unit');
const words = args.filter((a) => !a.startsWith('--'));
const unknown = args.filter((a) => a.startsWith('--') && a !== '--unit');
if (unknown.length > 0) {
  console.error(`run-tests: unknown option ${unknown.join(' ')}\nusage: node scripts/run-tests.mjs [--unit] [WORD...]`);
  process.exit(2);
}

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

let files = DIRS.filter((d) => !(unit && (d === 'test' || d === 'bench'))).flatMap((d) => walk(join(root, d), []));
if (words.length > 0) files = files.filter((f) => words.some((w) => f.includes(w)));
files.sort();

if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}

const nodeArgs = ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=600000', ...files];
const child = spawn(process.execPath, nodeArgs, { cwd: root, stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => {
  if (signal) {
    console.error(`run-tests: test runner killed by ${signal}`);
    process.exit(1);
  }
  process.exit(code ?? 1);
});
