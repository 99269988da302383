import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const page = readFileSync(`${ROOT}docs/failure-matrix.md`, 'utf8');
const codes = readFileSync(`${ROOT}docs/codes.md`, 'utf8');
const rows = page
  .split('\n')
  .filter((line) => /^\| \d+ \|/.test(line))
  .map((line) => line.split(' | ').map((cell) => cell.replace(/^\| |\s*\|$/g, '').trim()));

test('docs/failure-matrix.md lists at least 20 failure modes, each proven by a test', () => {
  assert.ok(rows.length >= 20, `${rows.length} rows`);
  for (const row of rows) assert.equal(row.length, 7, `row ${row[0]} has seven columns`);
});

test('every named test exists: its file, and a test of that name in it', () => {
  let checked = 0;
  for (const row of rows) {
    const cell = row.at(-1)!;
    const references = [...cell.matchAll(/`([^`]+\.test\.ts)` › "([^"]+)"/g)];
    assert.ok(references.length > 0, `row ${row[0]} names a test as \`file\` › "name"`);
    for (const [, file, name] of references) {
      assert.ok(existsSync(`${ROOT}${file}`), `row ${row[0]}: ${file} exists`);
      assert.ok(readFileSync(`${ROOT}${file}`, 'utf8').includes(name!), `row ${row[0]}: ${file} has a test named "${name}"`);
      checked += 1;
    }
  }
  assert.ok(checked >= 20);
});

test('every log code in the matrix is a documented code', () => {
  for (const row of rows) {
    for (const [, code] of row[4]!.matchAll(/`([A-Z][A-Z_]+)`/g)) assert.ok(codes.includes(`\`${code}\``), `row ${row[0]}: ${code} is in docs/codes.md`);
  }
});
