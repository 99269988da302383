import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { HTTP_ERRORS, LogCode } from './errors.ts';

test('every code is documented in configserver/README.md', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const codes = [...HTTP_ERRORS.map((E) => new E('x').code), ...Object.values(LogCode)];
  for (const code of codes) assert.ok(readme.includes(`\`${code}\``), `${code} is missing from README.md`);
});

test('codes follow AREA_OBJECT_EVENT', () => {
  for (const E of HTTP_ERRORS) assert.match(new E('x').code, /^CONFIG_[A-Z_]+$/);
  for (const code of Object.values(LogCode)) assert.match(code, /^CONFIGSERVER_[A-Z_]+$/);
});
