import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { asciinemaCat, eventually, recordingFolders } from '../helpers/audit.ts';
import { hardenedExecution, worldWithConfig } from '../helpers/fake-config.ts';
import { runSsh } from '../helpers/ssh-client.ts';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

test('the player page lists recordings a page at a time and plays a terminal that shows the recorded text', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-recordings-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { world } = await worldWithConfig(
    t,
    { backend: 'docker', docker: { execution: hardenedExecution() }, audit: { recording: 'required' } },
    { gateway: { audit: { directory: dir, player: { listen: '127.0.0.1:0', pageSize: 2 } } } },
  );
  for (const n of [1, 2, 3]) {
    const result = await runSsh({ port: world.sshPort, username: world.username, password: world.password, tty: true, command: `echo "player-text-$((${n}*111))"` });
    assert.equal(result.code, 0, result.stderr);
  }
  // Recording ids carry the start second: sessions in the same second still sort, by connection id.
  await eventually(async () => ((await recordingFolders(dir)).length === 3 && (await readdir(join(dir, '.open'))).length === 0 ? true : undefined), 'three sealed recordings');
  const base = `http://127.0.0.1:${String((await world.gateway.waitForCode('AUDIT_PLAYER_LISTENING')).port)}`;

  const first = await fetch(`${base}/`);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-frame-options'), 'DENY');
  const firstPage = await first.text();
  assert.equal(firstPage.match(/class="play"/g)?.length, 2, 'two recordings on the first page');
  const next = /id="next" href="([^"]+)"/.exec(firstPage)?.[1];
  assert.ok(next, 'a link to the next page');
  const secondPage = await (await fetch(`${base}${next.replace(/&amp;/g, '&')}`)).text();
  assert.equal(secondPage.match(/class="play"/g)?.length, 1, 'the third recording on the second page');
  assert.doesNotMatch(secondPage, /id="next"/);
  assert.equal((await fetch(`${base}/cast?key=..%2F..%2Fetc%2Fpasswd`)).status, 400, 'only recording keys are served');

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  const [newest] = (await recordingFolders(dir)).reverse();
  // Ids order by start second; three sessions may share one, so the newest's text comes from its own cast.
  const recorded = /player-text-\d{3}/.exec(await asciinemaCat(join(dir, newest ?? '', 'channel-0.cast')))?.[0];
  assert.ok(recorded, 'the newest recording holds one of the three texts');
  await page.goto(`${base}/`);
  await page.click(`a.play[href*="${newest}"]`);
  const terminal = page.locator('.ap-term, .ap-terminal').first();
  await terminal.waitFor({ timeout: 30_000 });
  await page.waitForFunction(() => document.querySelector('.ap-term, .ap-terminal')?.textContent?.includes('player-text-'), undefined, { timeout: 30_000 });
  const text = (await terminal.textContent()) ?? '';
  assert.ok(text.includes(recorded), `the player shows ${recorded}`);
  const shown = await terminal.screenshot();
  // The same terminal with its glyphs made invisible: if the text was really drawn, the pixels differ.
  await page.addStyleTag({ content: '.ap-term *, .ap-terminal * { color: transparent !important; }' });
  const hidden = await terminal.screenshot();
  assert.ok(shown.length > 1000, 'a real screenshot');
  assert.ok(!shown.equals(hidden), 'the screenshot shows the recorded text');
});
