import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';

const run = promisify(execFile);

// The benchmarks run briefly on every CI run so they cannot rot; their figures are not
// checked here (timings live in bench/, never in test assertions).
test('npm run bench:smoke prints a filled table for every benchmark', { timeout: 900_000 }, async () => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke'], { maxBuffer: 8 * 1024 * 1024, timeout: 900_000 });
  for (const benchmark of ['time to shell (Docker)', 'time to shell (Kubernetes)', 'throughput', 'idle sessions', 'session rate', 'policy-test', 'config webhook', 'compose at rest']) {
    const row = stdout.split('\n').find((line) => line.startsWith(`| ${benchmark} `));
    assert.ok(row, `a row for ${benchmark}`);
    const cells = row.split('|').map((cell) => cell.trim());
    assert.match(cells[3]!, /^\d+(\.\d+)? \S+/, `${benchmark} has a measured value`);
    if (benchmark !== 'policy-test') assert.match(cells[4]!, /^\d+(\.\d+)? \S+/, `${benchmark} has a baseline`);
  }
});
