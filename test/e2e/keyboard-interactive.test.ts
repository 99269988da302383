import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generate, generateSecret } from 'otplib';
import argon2 from 'argon2';
import { runSshKeyboardInteractive } from '../helpers/keyboard-interactive.ts';
import { startFakeWebhook } from '../helpers/fake-webhook.ts';
import { runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { waitForNoSessionContainers } from '../helpers/docker.ts';
import { E2E } from '../helpers/deadlines.ts';

/** Counts of a code in a program's logs. */
const count = (lines: { code?: string }[], code: string) => lines.filter((line) => line.code === code).length;

describe('keyboard-interactive: the authserver drives a conversation the gateway relays to OpenSSH', () => {
  let world: World;
  const totpSecret = generateSecret();
  const totpPassword = 'kbd-Password-7f3a9c';
  before(async () => {
    world = await startWorld({
      extraUsers: { otp: { passwordHash: await argon2.hash(totpPassword, { type: argon2.argon2id }), totpSecret } },
      gateway: { auth: { keyboardInteractive: true } },
    });
  });
  after(async () => {
    await world.stop();
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId), [], 'no session container is left');
  });

  test('password then one-time code: two steps shown verbatim, then a shell in the container', E2E, async () => {
    const code = await generate({ secret: totpSecret });
    const result = await runSshKeyboardInteractive({ port: world.sshPort, username: 'otp', answers: [totpPassword, code], command: 'echo kbd-ok' });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'kbd-ok\n');
    assert.deepEqual(
      result.prompts.map((prompt) => prompt.replace(/\s+$/, '')),
      ['Password:', 'One-time code:'],
    );
    assert.match(result.stderr, /Enter the 6-digit code your authenticator app shows\./);
    const accepted = world.authserver.logs.find((line) => line.code === 'AUTHSERVER_KEYBOARD_INTERACTIVE_ACCEPTED');
    assert.equal(accepted?.username, 'otp');
    for (const program of [world.authserver, world.configserver, world.gateway]) {
      const all = program.output.join('\n');
      assert.ok(!all.includes(totpPassword), `${program.name} never logs the password`);
      assert.ok(!all.includes(code), `${program.name} never logs the one-time code`);
    }
  });

  test('the same code is good once: a replay is refused', E2E, async () => {
    const code = await generate({ secret: totpSecret });
    // The code of the test above (same 30 s step, or the step just before) was spent.
    const before = count(world.authserver.logs, 'AUTHSERVER_KEYBOARD_INTERACTIVE_REJECTED');
    const first = await runSshKeyboardInteractive({ port: world.sshPort, username: 'otp', answers: [totpPassword, code], command: 'true' });
    const second = await runSshKeyboardInteractive({ port: world.sshPort, username: 'otp', answers: [totpPassword, code], command: 'true' });
    // The first passes only if the 30 s step moved on since the test above; the second never does.
    assert.ok(first.code === 0 || first.code === 255);
    assert.equal(second.code, 255, second.stderr);
    assert.match(second.stderr, /Permission denied/);
    assert.ok(count(world.authserver.logs, 'AUTHSERVER_KEYBOARD_INTERACTIVE_REJECTED') > before);
    const rejected = world.authserver.logs.filter((line) => line.code === 'AUTHSERVER_KEYBOARD_INTERACTIVE_REJECTED').at(-1);
    assert.equal(rejected?.reason, 'totp');
  });

  test('a wrong code after the right password is refused, and the code is still asked after a wrong password', E2E, async () => {
    const wrongCode = await runSshKeyboardInteractive({ port: world.sshPort, username: 'otp', answers: [totpPassword, '000000'], command: 'true' });
    assert.equal(wrongCode.code, 255);
    assert.match(wrongCode.stderr, /Permission denied/);
    const wrongPassword = await runSshKeyboardInteractive({ port: world.sshPort, username: 'otp', answers: ['not-it', await generate({ secret: totpSecret })], command: 'true' });
    assert.equal(wrongPassword.code, 255);
    // The conversation does not tell which factor failed: the code is asked either way.
    assert.deepEqual(
      wrongPassword.prompts.map((prompt) => prompt.trim()),
      ['Password:', 'One-time code:'],
    );
    const reasons = world.authserver.logs
      .filter((line) => line.code === 'AUTHSERVER_KEYBOARD_INTERACTIVE_REJECTED')
      .slice(-2)
      .map((line) => line.reason);
    assert.deepEqual(reasons, ['totp', 'password']);
  });

  test('a user with a one-time code cannot skip it with the password method', E2E, async () => {
    const result = await runSsh({ port: world.sshPort, username: 'otp', password: totpPassword, command: 'true' });
    assert.equal(result.code, 255);
    const rejected = world.authserver.logs.filter((line) => line.code === 'AUTHSERVER_PASSWORD_REJECTED').at(-1);
    assert.equal(rejected?.reason, 'second-factor-required');
  });

  test('a user without a one-time code logs in with the password alone over keyboard-interactive', E2E, async () => {
    const result = await runSshKeyboardInteractive({ port: world.sshPort, username: world.username, answers: [world.password], command: 'echo demo-ok' });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'demo-ok\n');
    assert.deepEqual(
      result.prompts.map((prompt) => prompt.trim()),
      ['Password:'],
    );
  });
});

describe('keyboard-interactive against a scripted auth server: verbatim relay, bounds, fail closed', () => {
  /** A world whose auth webhook answers /keyboard-interactive from `script` (one answer per call). */
  const scriptedWorld = async (t: { after: (fn: () => Promise<unknown>) => void }, script: (body: Record<string, unknown>, call: number) => unknown) => {
    const received: Record<string, unknown>[] = [];
    let fake: Awaited<ReturnType<typeof startFakeWebhook>> | undefined;
    const world = await startWorld({
      gateway: { auth: { keyboardInteractive: true, keyboardInteractiveMaxRounds: 5 } },
      beforeGateway: async (certsDir) => {
        // The fake serves with the real authserver's certificate, so the gateway trusts it.
        fake = await startFakeWebhook({ cert: join(certsDir, 'authserver.crt'), key: join(certsDir, 'authserver.key'), ca: join(certsDir, 'ca.crt') }, (req, res) => {
          let text = '';
          req.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
          req.on('end', () => {
            const body = JSON.parse(text) as Record<string, unknown>;
            received.push(body);
            res.setHeader('content-type', 'application/json');
            res.end(JSON.stringify(req.url === '/keyboard-interactive' ? script(body, received.length - 1) : { success: false }));
          });
        });
        return { authUrl: fake.url('') };
      },
    });
    t.after(async () => {
      await world.stop();
      await fake?.close();
    });
    return { world, received };
  };

  test('name, instruction and prompts reach OpenSSH as sent; answers and state come back in order', E2E, async (t) => {
    const { world, received } = await scriptedWorld(t, (body, call) =>
      call === 0
        ? {
            challenge: {
              name: 'Example Corp',
              instruction: 'Two questions follow.',
              prompts: [
                { prompt: 'Favourite colour: ', echo: true },
                { prompt: 'Secret word: ', echo: false },
              ],
            },
            state: 'opaque-1',
          }
        : body.state === 'opaque-1' && JSON.stringify(body.answers) === JSON.stringify(['blue', 'xyzzy'])
          ? { success: true, authenticatedUsername: 'demo' }
          : { success: false },
    );
    const result = await runSshKeyboardInteractive({ port: world.sshPort, username: 'demo', answers: ['blue', 'xyzzy'], command: 'echo relayed' });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'relayed\n');
    assert.deepEqual(result.prompts, ['Favourite colour:', 'Secret word:']);
    assert.match(result.stderr, /Example Corp/);
    assert.match(result.stderr, /Two questions follow\./);
    const calls = received.filter((body) => 'round' in body);
    assert.deepEqual(
      calls.map((body) => [body.round, body.state, body.answers]),
      [
        [0, undefined, []],
        [1, 'opaque-1', ['blue', 'xyzzy']],
      ],
    );
    assert.ok(!world.gateway.output.join('\n').includes('xyzzy'), 'the gateway never logs an answer');
  });

  test('an answer with both a challenge and a decision is invalid: refused with a message, never accepted', E2E, async (t) => {
    const { world } = await scriptedWorld(t, () => ({ success: true, authenticatedUsername: 'demo', challenge: { prompts: [] } }));
    const result = await runSshKeyboardInteractive({ port: world.sshPort, username: 'demo', answers: [], command: 'echo in' });
    assert.equal(result.code, 255);
    assert.match(result.stderr, /portcullis: Login refused: the authentication service answered with an invalid response\. \(AUTH_BACKEND_ERROR\)/);
  });

  test('a server that never decides is cut off after keyboardInteractiveMaxRounds steps', E2E, async (t) => {
    const { world, received } = await scriptedWorld(t, (_body, call) => ({ challenge: { instruction: `step ${call}`, prompts: [] }, state: String(call) }));
    const result = await runSshKeyboardInteractive({ port: world.sshPort, username: 'demo', answers: [], command: 'echo in' });
    assert.equal(result.code, 255);
    await world.gateway.waitForCode('AUTH_KEYBOARD_INTERACTIVE_TOO_MANY_ROUNDS');
    assert.equal(received.filter((body) => 'round' in body).length, 6, 'round 0 and five answered steps');
  });
});
