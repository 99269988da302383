import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isMap, isSeq, parseDocument, YAMLMap, type Document } from 'yaml';
import { parseUsersFile, UsersFileError } from '../users-file.ts';

/** A problem the operator can fix; the CLI prints it as is (exit 1). */
export class UsersAdminError extends Error {
  override name = 'UsersAdminError';
}

/** How long a second CLI waits for the first before giving up with a clear message. */
const LOCK_WAIT_MS = 10_000;

/**
 * Runs `change` on the users file under an exclusive lock (`<file>.lock`, created O_EXCL), so two
 * CLIs never interleave their read-modify-write. The result must still be a valid users file;
 * it replaces the old one atomically (temp file in the same folder, fsync, rename), mode 0600,
 * so the authserver's reload sees either the old file or the new one, never half of one.
 * Comments and the order of entries in the file are kept (yaml's Document API).
 */
export async function editUsersFile<T>(file: string, change: (document: Document) => T, options: { lockWaitMs?: number } = {}): Promise<T> {
  const release = await lock(file, options.lockWaitMs ?? LOCK_WAIT_MS);
  try {
    const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new UsersAdminError(err.code === 'ENOENT' ? `${file}: no such users file` : `${file}: cannot read: ${err.message}`);
    });
    const document = parseDocument(text);
    if (document.errors.length > 0) throw new UsersAdminError(`${file}: not valid YAML: ${document.errors[0]!.message}`);
    // Refuse to build on a file that is already broken: the operator must see that first.
    check(text, file);
    const result = change(document);
    // No line folding: hashes and key lines stay on one line each, as an operator greps for them.
    const next = document.toString({ lineWidth: 0 });
    check(next, file);
    await replaceAtomically(file, next);
    return result;
  } finally {
    await release();
  }
}

/** Reads the users file for `list`, without a lock (a rename makes every read see a whole file). */
export async function readUsersDocument(file: string): Promise<Document> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UsersAdminError(err.code === 'ENOENT' ? `${file}: no such users file` : `${file}: cannot read: ${err.message}`);
  });
  check(text, file);
  return parseDocument(text);
}

function check(text: string, file: string): void {
  try {
    parseUsersFile(text, file);
  } catch (err) {
    if (err instanceof UsersFileError) throw new UsersAdminError(err.message);
    throw err;
  }
}

/** The `users` map of the document (created when the file has none). */
export function usersMap(document: Document): YAMLMap {
  let users = document.get('users');
  if (users === undefined || users === null) {
    document.set('users', new YAMLMap());
    users = document.get('users');
  }
  if (!isMap(users)) throw new UsersAdminError('the users file has no "users" map');
  return users;
}

/** One user's map, or an error naming the unknown user. */
export function userEntry(document: Document, name: string): YAMLMap {
  const entry = usersMap(document).get(name);
  if (!isMap(entry)) throw new UsersAdminError(`no user "${name}" in the users file`);
  return entry;
}

/** A user's authorized key lines as written in the file. */
export function keysOf(entry: YAMLMap): string[] {
  const keys = entry.get('authorizedKeys');
  if (!isSeq(keys)) return [];
  return keys.items.map((item) => String((item as { value?: unknown }).value ?? item));
}

async function lock(file: string, waitMs: number): Promise<() => Promise<void>> {
  const path = `${file}.lock`;
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return () => rm(path, { force: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new UsersAdminError(`${path}: cannot create the lock file: ${(err as Error).message}`);
      if (Date.now() > deadline) {
        const since = await stat(path).then(
          (info) => info.mtime.toISOString(),
          () => 'unknown',
        );
        throw new UsersAdminError(`${path}: another "portcullis users" holds the lock (since ${since}); if none is running, remove the lock file`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function replaceAtomically(file: string, text: string): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw new UsersAdminError(`${file}: cannot write: ${(err as Error).message}`);
  }
}
