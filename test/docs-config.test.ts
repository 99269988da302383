import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { configPage, pageFile, PROGRAMS } from '../scripts/config-doc.ts';

for (const program of PROGRAMS) {
  test(`docs/config-${program.name}.md is the reference generated from the ${program.name}'s zod schema`, async () => {
    const page = await readFile(pageFile(program), 'utf8');
    assert.equal(page, configPage(program), 'regenerate with: npx tsx scripts/config-doc.ts --write');
    if (program.policy) return;
    for (const key of ['`log.level`', '`log.destination`', '`log.syslog.destination`', '`metrics.listen`', '`health.listen`']) {
      assert.ok(page.includes(key), `${key} is documented`);
    }
  });
}
