import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_POLICY_DIR } from '../testing/policy.ts';
import { formatDiagnostic } from './load.ts';
import { lintDir } from './lint.ts';

/** policies/README.md's examples are pasted as they stand, so each must be a profile lint accepts. */
test('every YAML example in policies/README.md is a profile lint accepts as pasted, with no warning', async (t) => {
  const readme = await readFile(join(REPO_POLICY_DIR, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);
  assert.ok(blocks.length >= 2, `${blocks.length} YAML blocks`);
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-readme-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const [index, block] of blocks.entries()) {
    const file = join(dir, `readme-example-${index}.yaml`);
    await writeFile(file, block);
    const { policy, diagnostics } = await lintDir(REPO_POLICY_DIR, [file]);
    assert.deepEqual(diagnostics.map(formatDiagnostic), [], `README example ${index + 1}`);
    assert.ok(policy, `README example ${index + 1} loads`);
  }
});
