/**
 * The gateway's codes as the Markdown table its README carries.
 *   npx tsx scripts/codes-table.ts           print the table
 *   npx tsx scripts/codes-table.ts --write   rewrite the table in gateway/README.md
 * gateway/src/errors.test.ts fails when the README and the code disagree.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GATEWAY_CODES } from '../gateway/src/errors.ts';

const HEADER = '| code | meaning |\n| --- | --- |\n';
const table =
  HEADER +
  Object.entries(GATEWAY_CODES)
    .map(([code, meaning]) => `| \`${code}\` | ${meaning} |\n`)
    .join('');

if (process.argv.includes('--write')) {
  const readme = fileURLToPath(new URL('../gateway/README.md', import.meta.url));
  const text = readFileSync(readme, 'utf8');
  const start = text.indexOf(HEADER);
  if (start < 0) throw new Error('gateway/README.md has no codes table to replace');
  // The table runs to the first line that is not a table row.
  let end = start + HEADER.length;
  while (text.startsWith('| `', end)) end = text.indexOf('\n', end) + 1;
  writeFileSync(readme, text.slice(0, start) + table + text.slice(end));
} else {
  process.stdout.write(table);
}
