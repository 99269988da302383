import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, parseUsersFile, UserDirectory } from './users-file.ts';

test('errors name the file and the option path', () => {
  assert.throws(() => parseUsersFile('users: { demo: { passwordHash: "plain" } }', 'u.yaml'), /^UsersFileError: u\.yaml: users\.demo\.passwordHash: expected an argon2 hash/);
  assert.throws(
    () => parseUsersFile('users: { demo: { authorizedKeys: ["ok AAAA", "from=\\"x\\" ssh-ed25519 AAAA"] } }', 'u.yaml'),
    /u\.yaml: users\.demo\.authorizedKeys\[1\]: expected "type base64/,
  );
  assert.throws(() => parseUsersFile('users: { demo: { shell: /bin/sh } }', 'u.yaml'), /users\.demo: Unrecognized key/);
  assert.throws(() => parseUsersFile('users: [', 'u.yaml'), /u\.yaml: not valid YAML/);
});

test('authorized keys are compared without their comment', async () => {
  const users = await UserDirectory.create(parseUsersFile('users: { a: { authorizedKeys: ["ssh-ed25519   AAAAC3Nz  me@host"] } }'));
  assert.equal(users.hasAuthorizedKey('a', 'ssh-ed25519 AAAAC3Nz'), true);
  assert.equal(users.hasAuthorizedKey('a', 'ssh-ed25519 AAAAC3Na'), false);
  assert.equal(users.hasAuthorizedKey('b', 'ssh-ed25519 AAAAC3Nz'), false);
});

test('hashPassword output verifies, and is argon2id', async () => {
  const hash = await hashPassword('s3cret');
  assert.match(hash, /^\$argon2id\$/);
  const users = await UserDirectory.create(parseUsersFile(`users: { a: { passwordHash: "${hash}" } }`));
  assert.equal(await users.verifyPassword('a', Buffer.from('s3cret')), true);
  assert.equal(await users.verifyPassword('a', Buffer.from('s3cret ')), false);
});
