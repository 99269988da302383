import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { generate, generateSecret } from 'otplib';
import { KeyboardInteractiveResponseSchema } from '@portcullis/wire';
import { buildApp } from '../app.ts';
import { hashPassword, parseUsersFile, UserDirectory } from '../users-file.ts';

const secret = generateSecret();
let users: UserDirectory;
before(async () => {
  users = await UserDirectory.create(
    parseUsersFile(`users:
  alice: { passwordHash: "${await hashPassword('pw')}", totpSecret: "${secret}", metadata: { team: research } }
  bob: { passwordHash: "${await hashPassword('pw2')}" }
`),
  );
});

const base = (username: string, connectionId = 'c'.repeat(32)) => ({ username, remoteAddress: '127.0.0.1:5000', connectionId });

function app(t: { after: (fn: () => Promise<unknown>) => void }) {
  const instance = buildApp({ users });
  t.after(() => instance.close());
  return async (body: object) => {
    const res = await instance.inject({ method: 'POST', url: '/keyboard-interactive', payload: body });
    assert.equal(res.statusCode, 200, res.body);
    return KeyboardInteractiveResponseSchema.parse(res.json());
  };
}

test('password, then code, then success with the user maps', async (t) => {
  const post = app(t);
  const first = await post({ ...base('alice'), round: 0, answers: [] });
  assert.deepEqual(first.challenge?.prompts, [{ prompt: 'Password: ', echo: false }]);
  const second = await post({ ...base('alice'), round: 1, state: first.state, answers: ['pw'] });
  assert.deepEqual(second.challenge?.prompts, [{ prompt: 'One-time code: ', echo: false }]);
  assert.equal(second.state, first.state);
  const done = await post({ ...base('alice'), round: 2, state: second.state, answers: [await generate({ secret })] });
  assert.equal(done.success, true);
  assert.equal(done.authenticatedUsername, 'alice');
  assert.deepEqual(done.metadata, { team: { value: 'research', sensitive: false } });
  // The conversation is over: its state is good no more.
  assert.deepEqual(await post({ ...base('alice'), round: 3, state: first.state, answers: [] }), { success: false });
});

test('a state is refused for another connection or user, with the wrong number of answers, or made up', async (t) => {
  const post = app(t);
  const start = async () => (await post({ ...base('bob'), round: 0, answers: [] })).state!;
  assert.deepEqual(await post({ ...base('bob', 'd'.repeat(32)), round: 1, state: await start(), answers: ['pw2'] }), { success: false });
  assert.deepEqual(await post({ ...base('alice'), round: 1, state: await start(), answers: ['pw2'] }), { success: false });
  const state = await start();
  assert.deepEqual(await post({ ...base('bob'), round: 1, state, answers: ['pw2', 'extra'] }), { success: false });
  // A refused state is gone, even with the right answers afterwards.
  assert.deepEqual(await post({ ...base('bob'), round: 1, state, answers: ['pw2'] }), { success: false });
  assert.deepEqual(await post({ ...base('bob'), round: 1, state: 'made-up', answers: ['pw2'] }), { success: false });
  assert.deepEqual(await post({ ...base('bob'), round: 1, answers: ['pw2'] }), { success: false });
  const ok = await post({ ...base('bob'), round: 1, state: await start(), answers: ['pw2'] });
  assert.equal(ok.success, true);
});

test('malformed requests are 400 with a stable code, never a decision', async (t) => {
  const instance = buildApp({ users });
  t.after(() => instance.close());
  for (const payload of [
    { ...base('bob'), round: 0 },
    { ...base('bob'), round: -1, answers: [] },
    { ...base('bob'), round: 0, answers: [1] },
  ]) {
    const res = await instance.inject({ method: 'POST', url: '/keyboard-interactive', payload });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'AUTH_REQUEST_INVALID');
  }
});

test('the answer schema takes exactly one of challenge or success', () => {
  assert.equal(KeyboardInteractiveResponseSchema.safeParse({ success: true, challenge: { prompts: [] } }).success, false);
  assert.equal(KeyboardInteractiveResponseSchema.safeParse({}).success, false);
  assert.equal(KeyboardInteractiveResponseSchema.safeParse({ challenge: { prompts: [{ prompt: 'x' }] } }).success, true);
  assert.equal(KeyboardInteractiveResponseSchema.safeParse({ challenge: { prompts: Array(17).fill({ prompt: 'x' }) } }).success, false);
});

test('one address holds at most 20 conversations, and a connection one: nobody can fill the store for everyone', async (t) => {
  const post = app(t);
  const start = (connection: number, remoteAddress = '192.0.2.50:1') => post({ username: 'bob', remoteAddress, connectionId: connection.toString(16).padStart(32, '0'), round: 0, answers: [] });
  for (let connection = 1; connection <= 20; connection += 1) assert.ok((await start(connection)).challenge, `conversation ${connection}`);
  assert.deepEqual(await start(21), { success: false });
  assert.ok((await start(22, '192.0.2.51:1')).challenge, 'another address still gets one');
  // The same connection starting again replaces its conversation instead of adding one.
  const again = await start(22, '192.0.2.51:1');
  const other = await start(22, '192.0.2.51:1');
  assert.ok(again.challenge && other.challenge);
  assert.deepEqual(await post({ username: 'bob', remoteAddress: '192.0.2.51:1', connectionId: (22).toString(16).padStart(32, '0'), round: 1, state: again.state, answers: ['pw2'] }), {
    success: false,
  });
});
