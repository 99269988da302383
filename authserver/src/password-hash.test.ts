import { test } from 'node:test';
import assert from 'node:assert/strict';
import argon2 from 'argon2';
import { hashPassword, parseUsersFile, UserDirectory } from './users-file.ts';

test('new password hashes are argon2id at the documented cost, and older costs still verify', async () => {
  const fresh = await hashPassword('correct horse');
  assert.match(fresh, /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
  const older = await argon2.hash('battery staple', { type: argon2.argon2id, memoryCost: 65536, timeCost: 3, parallelism: 4 });
  const users = await UserDirectory.create(parseUsersFile(`users:\n  fresh: { passwordHash: "${fresh}" }\n  older: { passwordHash: "${older}" }\n`));
  assert.equal(await users.verifyPassword('fresh', Buffer.from('correct horse')), true);
  assert.equal(await users.verifyPassword('older', Buffer.from('battery staple')), true);
  assert.equal(await users.verifyPassword('older', Buffer.from('correct horse')), false);
  assert.equal(await users.verifyPassword('nobody', Buffer.from('correct horse')), false);
});
