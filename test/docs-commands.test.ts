import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { documentedCommands, documentSources } from './helpers/documented-commands.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** Looser than the extractor: any mention of `portcullis` after `docker compose` or `docker-compose`. */
const MENTION = /docker[ -]compose\b[^`]*\bportcullis\b/;

test('the compose test runs every documented docker compose … portcullis command: none is left out of its list', async () => {
  const commands = await documentedCommands(ROOT);
  const sources = await documentSources(ROOT);
  for (const expected of ['README.md', 'docker-compose.yml', 'deploy/compose/gateway.yaml', 'authserver/README.md', 'gateway/README.md', 'policies/README.md']) {
    assert.ok(sources.includes(expected), `${expected} is read`);
  }
  const missed: string[] = [];
  for (const source of sources) {
    const lines = (await readFile(join(ROOT, source), 'utf8')).split('\n');
    lines.forEach((line, index) => {
      // What is left once every extracted command and every `…` form is taken out must mention no command.
      let rest = line.replace(/`[^`]*…[^`]*`/g, '');
      // A command counts only whole: up to a closing backquote, a remark after three spaces, or the line's end.
      for (const command of commands) rest = rest.replace(new RegExp(`${command.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=\`|\\s{3,}|\\s*$)`, 'g'), '');
      if (MENTION.test(rest)) missed.push(`${source}:${index + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(missed, [], 'documented commands the compose test would not run');
  // The operator's path of the issue, each in the list the compose test runs.
  for (const task of [/users add alice --key - < alice\.pub$/, /audit list --user alice/, /audit play <ID>$/, /users remove alice$/, /policy lint$/, /pki auditor alice/]) {
    assert.ok(
      commands.some((command) => task.test(command)),
      `${task} is documented`,
    );
  }
});
