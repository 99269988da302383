/**
 * Runs the benchmarks and prints one table: each figure next to a baseline measured in
 * the same run, the ratio and the goal. `npm run bench` (full, writes bench/RESULTS.md),
 * `npm run bench -- --smoke` (short, as CI runs it), `npm run bench -- --only throughput`.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { report, type BenchOptions, type Row } from './lib/table.ts';

const BENCHMARKS: Record<string, () => Promise<{ run: (options: BenchOptions) => Promise<Row[]> }>> = {
  'time-to-shell': () => import('./time-to-shell.ts'),
  'time-to-shell-kubernetes': () => import('./time-to-shell-kubernetes.ts'),
  throughput: () => import('./throughput.ts'),
  'idle-sessions': () => import('./idle-sessions.ts'),
  'session-rate': () => import('./session-rate.ts'),
  'policy-test': () => import('./policy-test.ts'),
  'config-webhook': () => import('./config-webhook.ts'),
  audit: () => import('./audit.ts'),
  'compose-idle': () => import('./compose-idle.ts'),
};

const { values } = parseArgs({ options: { smoke: { type: 'boolean', default: false }, only: { type: 'string', multiple: true } } });
const names = values.only ?? Object.keys(BENCHMARKS);
const unknown = names.filter((name) => !(name in BENCHMARKS));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(BENCHMARKS).join(', ')}`);
  process.exit(2);
}
const options: BenchOptions = { smoke: values.smoke };
const rows: Row[] = [];
const failed: string[] = [];
for (const name of names) {
  console.error(`bench: ${name}${options.smoke ? ' (smoke)' : ''} ...`);
  try {
    const benchmark = await BENCHMARKS[name]!();
    rows.push(...(await benchmark.run(options)));
  } catch (error) {
    // A figure without its baseline means nothing: the run fails, naming what was not measured.
    failed.push(name);
    console.error(`bench: ${name} FAILED: ${error instanceof Error ? error.message : String(error)}`);
  }
}
const resultsFile = values.only || failed.length > 0 ? undefined : fileURLToPath(new URL('./RESULTS.md', import.meta.url));
await report('Portcullis benchmarks', rows, options, resultsFile);
if (failed.length > 0) {
  console.error(`bench: FAILED ${failed.join(', ')}: see the messages above; RESULTS.md was not written`);
  process.exitCode = 1;
}
