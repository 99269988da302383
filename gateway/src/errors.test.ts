import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GATEWAY_CODES } from './errors.ts';

const SRC = fileURLToPath(new URL('.', import.meta.url));

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return sourceFiles(path);
      return Promise.resolve(entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : []);
    }),
  );
  return nested.flat();
}

test('every code the gateway emits is declared, and every declared code is emitted', async () => {
  const used = new Set<string>();
  for (const file of (await sourceFiles(SRC)).filter((path) => !path.endsWith('/errors.ts'))) {
    const text = await readFile(file, 'utf8');
    // Any quoted AREA_EVENT-shaped string is a code: codes are never built from pieces.
    for (const match of text.matchAll(/'([A-Z][A-Z0-9]*_[A-Z0-9_]+)'/g)) used.add(match[1]!);
  }
  const declared = new Set(Object.keys(GATEWAY_CODES));
  assert.deepEqual([...used].filter((code) => !declared.has(code)).sort(), [], 'used but not declared');
  assert.deepEqual([...declared].filter((code) => !used.has(code)).sort(), [], 'declared but never used');
});

test('the README lists exactly the declared codes', async () => {
  const readme = await readFile(join(SRC, '..', 'README.md'), 'utf8');
  const listed = new Set([...readme.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((match) => match[1]!));
  assert.deepEqual([...listed].sort(), Object.keys(GATEWAY_CODES).sort());
});
