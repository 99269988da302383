import { randomBytes } from 'node:crypto';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { stringify } from 'yaml';
import { hashPassword } from './users-file.ts';

export interface InitDemoResult {
  created: boolean;
  /** Only when created: the one and only time the clear password exists. */
  password?: string;
}

/**
 * Creates a users file holding one demo user with a random password, unless the file exists.
 * The file keeps only the argon2id hash, so the password cannot be shown again later.
 */
export async function initDemoUser(usersFile: string, username = 'demo'): Promise<InitDemoResult> {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(username)) throw new Error(`username ${JSON.stringify(username)} is not a valid login name`);
  if (await exists(usersFile)) return { created: false };

  const password = randomBytes(18).toString('base64url');
  const text =
    '# Portcullis demo users, written by `authserver init-demo`. Passwords are argon2id hashes.\n' +
    stringify({ users: { [username]: { passwordHash: await hashPassword(password), authorizedKeys: [] } } });
  await mkdir(dirname(usersFile), { recursive: true });
  try {
    // 'wx': if another process created the file meanwhile, keep theirs rather than overwrite it.
    await writeFile(usersFile, text, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { created: false };
    throw err;
  }
  return { created: true, password };
}

export function demoBanner(username: string, password: string, usersFile: string): string {
  const rule = '='.repeat(72);
  return [rule, `Demo login: ssh -p 2222 ${username}@localhost   password: ${password}`, `This password is shown once; ${usersFile} keeps only its hash.`, rule, ''].join('\n');
}

function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
