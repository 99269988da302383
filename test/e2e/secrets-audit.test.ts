import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import argon2 from 'argon2';
import { generate, generateSecret } from 'otplib';
import { decodeBinaryLog, HEADER_LENGTH } from '../../gateway/src/audit/format/binary-log.ts';
import { MESSAGE_TYPES } from '../../gateway/src/audit/format/message-types.ts';
import { eventually, recordingFolders } from '../helpers/audit.ts';
import { hardenedExecution, worldWithConfig } from '../helpers/fake-config.ts';
import { runSshKeyboardInteractive } from '../helpers/keyboard-interactive.ts';
import { runSsh } from '../helpers/ssh-client.ts';
import { E2E } from '../helpers/deadlines.ts';

/** Byte strings in a decoded message, shown both as text and as base64, so either form is caught. */
function render(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (typeof item === 'bigint') return String(item);
    if (item instanceof Uint8Array) return `${Buffer.from(item).toString('utf8')} ${Buffer.from(item).toString('base64')}`;
    if (item && typeof item === 'object' && (item as { type?: unknown }).type === 'Buffer' && Array.isArray((item as { data?: unknown }).data)) {
      const bytes = Buffer.from((item as { data: number[] }).data);
      return `${bytes.toString('utf8')} ${bytes.toString('base64')}`;
    }
    return item;
  });
}

/**
 * A full audit (binary log of every stream, asciicast, chain indexes) of password, public-key
 * and keyboard-interactive (password + one-time code) logins: no credential in any form may
 * appear in any recorded file, raw or decoded. Answers to keyboard-interactive prompts are
 * recorded as answered, with the answer left out.
 */
test('a fully recorded session holds no password, one-time code or private key in any audit file', E2E, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-secrets-audit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await promisify(execFile)('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id_ed25519')]);
  const publicKey = (await readFile(join(dir, 'id_ed25519.pub'), 'utf8')).trim();
  const totpSecret = generateSecret();
  const totpPassword = 'kbd-Audit-Password-5e1d';
  const recordings = join(dir, 'recordings');
  const audit = { recording: 'required', storage: 'file', asciicast: true, intercept: { stdin: true, stdout: true, stderr: true, passwords: false } };
  const { world } = await worldWithConfig(
    t,
    { backend: 'docker', docker: { execution: hardenedExecution() }, audit },
    {
      authorizedKeys: [publicKey],
      extraUsers: { otp: { passwordHash: await argon2.hash(totpPassword, { type: argon2.argon2id }), totpSecret } },
      gateway: { auth: { keyboardInteractive: true }, audit: { directory: recordings, flushInterval: '1s' } },
    },
  );

  const password = await runSsh({ port: world.sshPort, username: world.username, password: world.password, tty: true, command: 'echo audited-password-login' });
  assert.equal(password.code, 0, password.stderr);
  const keyed = await runSsh({ port: world.sshPort, username: world.username, identityFile: join(dir, 'id_ed25519'), tty: true, command: 'echo audited-key-login' });
  assert.equal(keyed.code, 0, keyed.stderr);
  const code = await generate({ secret: totpSecret });
  const kbd = await runSshKeyboardInteractive({ port: world.sshPort, username: 'otp', answers: [totpPassword, code], tty: true, command: 'echo audited-kbd-login' });
  assert.equal(kbd.code, 0, kbd.stderr);
  await eventually(async () => (world.gateway.logs.filter((line) => line.code === 'AUDIT_RECORDING_STORED').length >= 3 ? true : undefined), 'three recordings stored');
  const folders = await recordingFolders(recordings);
  assert.equal(folders.length, 3, 'three recordings');

  const privateLines = (await readFile(join(dir, 'id_ed25519'), 'utf8'))
    .split('\n')
    .filter((line) => /^[A-Za-z0-9+/=]{20,}$/.test(line))
    .slice(2);
  const secrets = [world.password, totpPassword, code, totpSecret, ...[world.password, totpPassword].map((secret) => Buffer.from(secret).toString('base64')), ...privateLines];

  const texts: string[] = [];
  let challenges = 0;
  let answers = 0;
  for (const folder of folders) {
    for (const name of await readdir(join(recordings, folder))) {
      const raw = await readFile(join(recordings, folder, name));
      texts.push(raw.toString('latin1'));
      if (name !== 'audit.cslog') continue;
      texts.push(gunzipSync(raw.subarray(HEADER_LENGTH)).toString('latin1'));
      const { messages } = decodeBinaryLog(raw);
      texts.push(...messages.map(render));
      challenges += messages.filter((message) => message.type === MESSAGE_TYPES.authKeyboardInteractiveChallenge).length;
      for (const message of messages.filter((message) => message.type === MESSAGE_TYPES.authKeyboardInteractiveAnswer)) {
        answers += 1;
        const given = message.payload!.answers as { question: string; answer: string }[];
        assert.equal(given.length, 1, 'one answer per prompt');
        assert.equal(given[0]!.answer, '', 'the answer itself is left out');
      }
    }
  }
  assert.equal(challenges, 2, 'both keyboard-interactive steps are recorded');
  assert.equal(answers, 2);
  const all = texts.join('\n');
  for (const marker of ['audited-password-login', 'audited-key-login', 'audited-kbd-login', 'One-time code']) assert.ok(all.includes(marker), `the recordings hold ${marker}`);
  let hits = 0;
  for (const secret of secrets) for (const text of texts) if (text.includes(secret)) hits += 1;
  t.diagnostic(`${secrets.length} secrets × ${texts.length} recorded files and decoded messages: ${hits} hits`);
  assert.equal(hits, 0);
});
