/**
 * Prints the gateway's codes as the Markdown table its README carries:
 *   npx tsx scripts/codes-table.ts
 * gateway/src/errors.test.ts fails when the README and the code disagree.
 */
import { GATEWAY_CODES } from '../gateway/src/errors.ts';

for (const [code, meaning] of Object.entries(GATEWAY_CODES)) console.log(`| \`${code}\` | ${meaning} |`);
