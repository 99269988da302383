import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createPki, issueAuditor, issuePlayer, writeIssued } from '@portcullis/pki';
import { hashPassword } from '../../authserver/src/users-file.ts';
import { asciinemaCat, eventually, recordingFolders } from '../helpers/audit.ts';
import { launchChromium } from '../helpers/browser.ts';
import { hardenedExecution, worldWithConfig } from '../helpers/fake-config.ts';
import { pollUntil } from '../helpers/poll-until.ts';
import { runSsh } from '../helpers/ssh-client.ts';
import { E2E } from '../helpers/deadlines.ts';

/** GET over HTTPS with an optional client certificate: the status, or the TLS error that ended it. */
function get(url: string, tls: { ca: Buffer; cert?: Buffer; key?: Buffer }): Promise<{ status?: number; body?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = request(url, { ...tls, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

test('the player admits only auditor certificates, lists recordings with the audit columns and search, plays a terminal, and logs who watched what', E2E, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-recordings-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // The player's own CA material, as `portcullis pki init|player|auditor` makes it.
  const pkiDir = join(dir, '.pki');
  const pki = await createPki(pkiDir);
  const [playerCert, playerKey] = await writeIssued(pkiDir, join(dir, '.player'), 'audit-player', await issuePlayer(pkiDir, []));
  const [auditorCert, auditorKey] = await writeIssued(pkiDir, join(dir, '.auditor'), 'auditor-alice', await issueAuditor(pkiDir, 'alice'));
  const { world } = await worldWithConfig(
    t,
    { backend: 'docker', docker: { execution: hardenedExecution() }, audit: { recording: 'required' } },
    {
      extraUsers: { bob: { passwordHash: await hashPassword('bob-pw') } },
      gateway: { audit: { directory: dir, player: { listen: '127.0.0.1:0', pageSize: 2, tls: { certFile: playerCert, keyFile: playerKey, clientCaFile: pki.ca.cert } } } },
    },
  );
  for (const [username, password, n] of [
    [world.username, world.password, 1],
    [world.username, world.password, 2],
    ['bob', 'bob-pw', 3],
  ] as const) {
    const result = await runSsh({ port: world.sshPort, username, password, tty: true, command: `echo "player-text-$((${n}*111))"; exit ${n}` });
    assert.equal(result.code, n, result.stderr);
    // Recording ids name their second: the next session starts in a later one, so newest-first is this order.
    const ended = Math.floor(Date.now() / 1000);
    await pollUntil(() => Math.floor(Date.now() / 1000) > ended, { what: 'the next second', intervalMs: 20 });
  }
  await eventually(async () => ((await recordingFolders(dir)).length === 3 && (await readdir(join(dir, '.open'))).length === 0 ? true : undefined), 'three sealed recordings');
  const base = `https://127.0.0.1:${String((await world.gateway.waitForCode('AUDIT_PLAYER_LISTENING')).port)}`;
  const ca = await readFile(pki.ca.cert);

  // No client certificate: the TLS handshake fails, no page is served. A program's certificate of the same CA: 403.
  const anonymous = await get(`${base}/`, { ca });
  assert.equal(anonymous.status, undefined, `no page without a certificate: ${JSON.stringify(anonymous)}`);
  assert.ok(anonymous.error, 'the TLS handshake refused the client');
  const program = await get(`${base}/`, { ca, cert: await readFile(pki.gateway.cert), key: await readFile(pki.gateway.key) });
  assert.equal(program.status, 403);
  assert.equal((await world.gateway.waitForCode('AUDIT_PLAYER_REFUSED')).subject, 'gateway');
  const auditor = { ca, cert: await readFile(auditorCert!), key: await readFile(auditorKey!) };
  assert.equal((await get(`${base}/cast?key=..%2F..%2Fetc%2Fpasswd`, auditor)).status, 400, 'only recording keys are served');

  const browser = await launchChromium();
  t.after(() => browser.close());
  const stranger = await browser.newContext({ ignoreHTTPSErrors: true });
  await assert.rejects(
    stranger.newPage().then((page) => page.goto(`${base}/`, { timeout: 15_000 })),
    /ERR_|net::/,
    'a browser without a certificate gets no page',
  );
  await stranger.close();

  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 800 }, clientCertificates: [{ origin: base, certPath: auditorCert!, keyPath: auditorKey! }] });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  await page.goto(`${base}/`);
  assert.equal(await page.locator('#auditor').innerText(), 'alice');
  assert.deepEqual(await page.locator('thead th').allInnerTexts(), ['id', 'user', 'address', 'start', 'duration', 'in', 'out', 'exit', 'state', 'terminals']);
  const cell = (row: number, column: string) => page.locator('tr.recording').nth(row).locator(`td[data-column="${column}"]`).innerText();
  assert.equal(await page.locator('tr.recording').count(), 2, 'a page of two');
  // Newest first: bob's session (exit 3) ran last.
  assert.equal(await cell(0, 'user'), 'bob');
  assert.equal(await cell(0, 'exit'), '3');
  assert.equal(await cell(0, 'state'), 'complete');
  assert.match(await cell(0, 'address'), /^127\.0\.0\.1:\d+$/);
  assert.match(await cell(0, 'start'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.notEqual(await cell(0, 'out'), '0', 'output bytes counted');
  assert.equal(await cell(1, 'user'), world.username);

  // Search narrows the list to one user's sessions.
  await page.fill('#search', world.username);
  await page.click('#search-button');
  await page.waitForURL(/\?q=/);
  const users = await page.locator('tr.recording td[data-column="user"]').allInnerTexts();
  assert.deepEqual(users, [world.username, world.username]);
  await page.fill('#search', 'bob');
  await page.click('#search-button');
  await page.waitForURL(/q=bob/);
  assert.deepEqual(await page.locator('tr.recording td[data-column="user"]').allInnerTexts(), ['bob']);

  // Play bob's terminal: the recorded text is drawn.
  const bobRecording = (await recordingFolders(dir)).reverse()[0]!;
  const recorded = /player-text-\d{3}/.exec(await asciinemaCat(join(dir, bobRecording, 'channel-0.cast')))?.[0];
  assert.equal(recorded, 'player-text-333');
  await page.click(`a.play[href*="${bobRecording}"]`);
  const terminal = page.locator('.ap-term, .ap-terminal').first();
  await terminal.waitFor();
  await page.waitForFunction(() => document.querySelector('.ap-term, .ap-terminal')?.textContent?.includes('player-text-'), undefined, { timeout: 30_000 });
  assert.ok(((await terminal.textContent()) ?? '').includes(recorded));
  const shown = await terminal.screenshot();
  await page.addStyleTag({ content: '.ap-term *, .ap-terminal * { color: transparent !important; }' });
  assert.ok(!shown.equals(await terminal.screenshot()), 'the screenshot shows the recorded text');

  const played = await eventually(async () => world.gateway.logs.find((line) => line.code === 'AUDIT_PLAYER_VIEWED' && line.action === 'play'), 'the play logged');
  assert.equal(played.auditor, 'alice');
  assert.equal(played.recordingId, bobRecording);
  assert.ok(world.gateway.logs.some((line) => line.code === 'AUDIT_PLAYER_VIEWED' && line.action === 'list' && line.search === 'bob' && line.auditor === 'alice'));
});
