import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { codesPage } from '../scripts/codes-doc.ts';

test('docs/codes.md lists every code of the three programs, as generated', async () => {
  const page = await readFile(new URL('../docs/codes.md', import.meta.url), 'utf8');
  assert.equal(page, codesPage(), 'regenerate with: npx tsx scripts/codes-doc.ts --write');
  for (const code of ['SSH_AVAILABLE', 'AUTH_BACKEND_ERROR', 'AUTHSERVER_LISTENING', 'CONFIG_POLICY_DENIED', 'CONFIGSERVER_POLICY_RELOAD_FAILED']) {
    assert.ok(page.includes(`\`${code}\``), `${code} is listed`);
  }
});
