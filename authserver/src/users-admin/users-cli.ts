import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { text as readText } from 'node:stream/consumers';
import type { Readable } from 'node:stream';
import sshpk from 'sshpk';
import { isMap, isSeq, type YAMLSeq } from 'yaml';
import { z } from 'zod';
import { hashPassword } from '../users-file.ts';
import { editUsersFile, keysOf, readUsersDocument, userEntry, usersMap, UsersAdminError } from './users-store.ts';

export const USERS_USAGE = `usage: portcullis users <command> [--users-file FILE]
  add NAME [--password-stdin] [--key FILE|-]   new user with a password (read from stdin) and/or a public key
  passwd NAME                                 set the password (read from stdin)
  add-key NAME FILE|-                         add a public key (an id_*.pub file, or - for stdin)
  remove-key NAME FINGERPRINT|FILE|-          remove a key, named by its SHA256: fingerprint or the key itself
  remove NAME                                 remove the user
  list [--json]                               users, whether they have a password, their key fingerprints
The users file is $PORTCULLIS_USERS_FILE unless --users-file names one; the authserver reloads it by itself.`;

export class UsersUsageError extends Error {}

/** SSH usernames as the CLI accepts them: no spaces or control characters, never an option look-alike. */
const UsernameSchema = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,255}$/, 'a username is 1-256 letters, digits, "_", ".", "@" or "-", not starting with "-", "." or "@"');

/** A password from stdin: one trailing newline dropped (`echo secret |`), never empty. */
const PasswordSchema = z
  .string()
  .transform((text) => text.replace(/\r?\n$/, ''))
  .pipe(z.string().min(1, 'the password on stdin is empty').max(1024, 'the password on stdin is longer than 1024 characters'));

const FingerprintSchema = z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'expected a fingerprint like SHA256:… (as `portcullis users list` shows)');

export interface UsersCliIo {
  readonly stdin: Readable;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** The file when --users-file is not given. */
  readonly defaultUsersFile?: string;
}

interface PublicKey {
  /** `type base64 [comment]`, as stored in the file. */
  readonly line: string;
  readonly fingerprint: string;
}

/** `portcullis users …`: exit 0 done, 1 the change was refused (the message says why), 2 bad usage. */
export async function usersMain(argv: string[], io: UsersCliIo): Promise<number> {
  try {
    return await usersCli(argv, io);
  } catch (err) {
    if (err instanceof UsersUsageError) {
      io.stderr(`portcullis users: ${err.message}\n${USERS_USAGE}\n`);
      return 2;
    }
    if (err instanceof UsersAdminError) {
      io.stderr(`portcullis users: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/** Runs one command; throws UsersUsageError / UsersAdminError for usersMain to print. */
async function usersCli(argv: string[], io: UsersCliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'users-file': { type: 'string' },
        'password-stdin': { type: 'boolean', default: false },
        key: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsersUsageError((err as Error).message);
  }
  const { positionals, values } = parsed;
  if (values.help) {
    io.stdout(`${USERS_USAGE}\n`);
    return 0;
  }
  const [command, name, argument, ...extra] = positionals;
  const file = values['users-file'] ?? io.defaultUsersFile;
  if (!command) throw new UsersUsageError('name a command');
  if (!file) throw new UsersUsageError('no users file: pass --users-file FILE or set PORTCULLIS_USERS_FILE');
  const expect = (count: number) => {
    if (positionals.length - 1 !== count) throw new UsersUsageError(`${command} takes ${count === 0 ? 'no argument' : count === 1 ? 'a username' : 'a username and a key'}`);
  };
  if (extra.length > 0) throw new UsersUsageError(`${command}: too many arguments`);
  const username = () => {
    const result = UsernameSchema.safeParse(name);
    if (!result.success) throw new UsersUsageError(`"${String(name)}": ${result.error.issues[0]?.message ?? 'not a username'}`);
    return result.data;
  };
  if (command !== 'add' && (values['password-stdin'] || values.key !== undefined)) throw new UsersUsageError('--password-stdin and --key belong to "add"');
  if (command !== 'list' && values.json) throw new UsersUsageError('--json belongs to "list"');

  switch (command) {
    case 'add': {
      expect(1);
      const user = username();
      if (!values['password-stdin'] && values.key === undefined) throw new UsersUsageError('add needs --password-stdin, --key FILE|-, or both: a user without either cannot log in');
      if (values['password-stdin'] && values.key === '-') throw new UsersUsageError('stdin holds either the password or the key, not both');
      const key = values.key === undefined ? undefined : await readPublicKey(values.key, io.stdin);
      const hash = values['password-stdin'] ? await hashPassword(await readPassword(io.stdin)) : undefined;
      await editUsersFile(file, (document) => {
        const users = usersMap(document);
        if (users.has(user)) throw new UsersAdminError(`user "${user}" already exists (passwd, add-key and remove-key change it)`);
        users.set(user, document.createNode({ ...(hash ? { passwordHash: hash } : {}), ...(key ? { authorizedKeys: [key.line] } : {}) }));
      });
      io.stdout(`added user ${user}${hash ? ' with a password' : ''}${key ? `${hash ? ' and' : ' with'} key ${key.fingerprint}` : ''}\n`);
      return 0;
    }
    case 'passwd': {
      expect(1);
      const user = username();
      const hash = await hashPassword(await readPassword(io.stdin));
      await editUsersFile(file, (document) => userEntry(document, user).set('passwordHash', hash));
      io.stdout(`password of ${user} changed\n`);
      return 0;
    }
    case 'add-key': {
      expect(2);
      const user = username();
      const key = await readPublicKey(argument!, io.stdin);
      await editUsersFile(file, (document) => {
        const entry = userEntry(document, user);
        if (keysOf(entry).some((line) => fingerprintOf(line) === key.fingerprint)) throw new UsersAdminError(`user "${user}" already has key ${key.fingerprint}`);
        const keys = entry.get('authorizedKeys');
        if (isSeq(keys)) keys.add(document.createNode(key.line));
        else entry.set('authorizedKeys', document.createNode([key.line]));
      });
      io.stdout(`added key ${key.fingerprint} to ${user}\n`);
      return 0;
    }
    case 'remove-key': {
      expect(2);
      const user = username();
      const fingerprint = argument!.startsWith('SHA256:') ? parseFingerprint(argument!) : (await readPublicKey(argument!, io.stdin)).fingerprint;
      await editUsersFile(file, (document) => {
        const entry = userEntry(document, user);
        const keys = entry.get('authorizedKeys');
        const index = keysOf(entry).findIndex((line) => fingerprintOf(line) === fingerprint);
        if (!isSeq(keys) || index < 0) throw new UsersAdminError(`user "${user}" has no key ${fingerprint}`);
        (keys as YAMLSeq).delete(index);
      });
      io.stdout(`removed key ${fingerprint} from ${user}\n`);
      return 0;
    }
    case 'remove': {
      expect(1);
      const user = username();
      await editUsersFile(file, (document) => {
        if (!usersMap(document).delete(user)) throw new UsersAdminError(`no user "${user}" in the users file`);
      });
      io.stdout(`removed user ${user}\n`);
      return 0;
    }
    case 'list': {
      expect(0);
      const users = usersMap(await readUsersDocument(file));
      const rows = users.items.map((pair) => {
        const entry = pair.value;
        const name = String((pair.key as { value?: unknown }).value ?? pair.key);
        if (!isMap(entry)) return { name, password: false, totp: false, keys: [] as string[] };
        return { name, password: entry.has('passwordHash'), totp: entry.has('totpSecret'), keys: keysOf(entry).map((line) => fingerprintOf(line) ?? 'unreadable key') };
      });
      if (values.json) for (const row of rows) io.stdout(`${JSON.stringify(row)}\n`);
      else {
        const width = Math.max(4, ...rows.map((row) => row.name.length));
        io.stdout(`${'NAME'.padEnd(width)}  PASSWORD  TOTP  KEYS\n`);
        for (const row of rows) io.stdout(`${row.name.padEnd(width)}  ${(row.password ? 'yes' : 'no').padEnd(8)}  ${(row.totp ? 'yes' : 'no').padEnd(4)}  ${row.keys.join(' ') || '-'}\n`);
      }
      return 0;
    }
    default:
      throw new UsersUsageError(`unknown command "${command}"`);
  }
}

async function readPassword(stdin: Readable): Promise<string> {
  const result = PasswordSchema.safeParse(await readText(stdin));
  if (!result.success) throw new UsersUsageError(result.error.issues[0]?.message ?? 'bad password');
  return result.data;
}

function parseFingerprint(text: string): string {
  const result = FingerprintSchema.safeParse(text);
  if (!result.success) throw new UsersUsageError(`"${text}": ${result.error.issues[0]?.message ?? 'not a fingerprint'}`);
  return result.data;
}

/** Exactly one OpenSSH public key, from a file or `-` (stdin). A private key is refused by name. */
async function readPublicKey(source: string, stdin: Readable): Promise<PublicKey> {
  let text: string;
  try {
    text = source === '-' ? await readText(stdin) : await readFile(source, 'utf8');
  } catch (err) {
    throw new UsersAdminError(`${source}: cannot read the key: ${(err as Error).message}`);
  }
  const where = source === '-' ? 'stdin' : source;
  if (/PRIVATE KEY-----/.test(text)) throw new UsersAdminError(`${where} holds a private key: give the public key (the .pub file)`);
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  if (lines.length !== 1) throw new UsersAdminError(`${where}: expected one public key line ("ssh-ed25519 AAAA… comment"), found ${lines.length}`);
  const line = lines[0]!;
  if (line.length > 16_384) throw new UsersAdminError(`${where}: the key line is too long`);
  if (!/^(ssh|ecdsa|sk)-[a-z0-9@.-]+ [A-Za-z0-9+/]+={0,2}( [^\p{Cc}]*)?$/u.test(line)) {
    throw new UsersAdminError(`${where}: not an OpenSSH public key line ("ssh-ed25519 AAAA… comment"; authorized_keys options are not supported)`);
  }
  const fingerprint = fingerprintOf(line);
  if (!fingerprint) throw new UsersAdminError(`${where}: the key does not decode (truncated or not a public key)`);
  return { line, fingerprint };
}

/** SHA256 fingerprint as `ssh-keygen -l` prints it; undefined for a line that is not a key. */
function fingerprintOf(line: string): string | undefined {
  try {
    return sshpk.parseKey(line, 'ssh').fingerprint('sha256').toString();
  } catch {
    return undefined;
  }
}
