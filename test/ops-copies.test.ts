import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

/**
 * Each program stays self-contained (DESIGN.md: only wire/ is shared), so a few small ops
 * modules are copied between them. This keeps the copies from drifting apart.
 */
const COPIES: [string, string[]][] = [
  ['gateway/src/observability/log-destination.ts', ['authserver/src/ops/log-destination.ts', 'configserver/src/ops/log-destination.ts']],
  ['authserver/src/ops/metrics.ts', ['configserver/src/ops/metrics.ts']],
  ['authserver/src/ops/ops-server.ts', ['configserver/src/ops/ops-server.ts']],
  ['authserver/src/ops/http-limits.ts', ['configserver/src/ops/http-limits.ts']],
];

for (const [original, copies] of COPIES) {
  test(`${original} and its copies are identical`, async () => {
    const text = await readFile(new URL(`../${original}`, import.meta.url), 'utf8');
    for (const copy of copies) assert.equal(await readFile(new URL(`../${copy}`, import.meta.url), 'utf8'), text, `${copy} differs from ${original}`);
  });
}
