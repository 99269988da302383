import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import argon2 from 'argon2';
import { verify as verifyTotpCode } from 'otplib';
import { parse } from 'yaml';
import { z } from 'zod';
import { EnvironmentMapSchema, FileModeSchema, FilesMapSchema, MetadataMapSchema, type ConnectionMaps, type FileValue } from '@portcullis/wire';

/** argon2 PHC string, as `hash-password` prints it. Checked at load so verify never throws on a bad hash. */
const PasswordHashSchema = z.string().regex(/^\$argon2(id|i|d)\$v=\d+\$[a-z]=\d+(,[a-z]=\d+)*\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/, 'expected an argon2 hash ($argon2id$v=19$...)');

/** authorized_keys line without options; kept as `type base64`, the form the gateway sends. */
const AuthorizedKeySchema = z.string().transform((line, ctx) => {
  const [type = '', key = ''] = line.trim().split(/\s+/);
  if (!/^[a-z0-9@.-]+$/.test(type) || !/^[A-Za-z0-9+/]+={0,2}$/.test(key)) {
    ctx.addIssue({ code: 'custom', message: 'expected "type base64 [comment]" (authorized_keys options are not supported)' });
    return z.NEVER;
  }
  return `${type} ${key}`;
});

/** `NAME: text`, or `NAME: { value: text, sensitive: true }` for a secret. */
const ValueEntrySchema = z.union([z.string().transform((value) => ({ value, sensitive: false })), z.strictObject({ value: z.string(), sensitive: z.boolean().default(false) })]);

/**
 * A file for the session container: `PATH: text`, or `PATH: { content | base64, sensitive, mode }`.
 * Sent as base64, as ContainerSSH encodes file contents.
 */
const FileEntrySchema = z
  .union([
    z.string().transform((content) => ({ content, sensitive: false }) as { content?: string; base64?: string; sensitive: boolean; mode?: string }),
    z.strictObject({
      content: z.string().optional(),
      base64: z.base64().optional(),
      sensitive: z.boolean().default(false),
      mode: FileModeSchema.optional(),
    }),
  ])
  .refine((file) => (file.content === undefined) !== (file.base64 === undefined), 'give exactly one of content or base64')
  .transform(
    (file): FileValue => ({
      value: file.base64 ?? Buffer.from(file.content ?? '', 'utf8').toString('base64'),
      sensitive: file.sensitive,
      ...(file.mode !== undefined ? { mode: file.mode } : {}),
    }),
  );

const UserSchema = z.strictObject({
  passwordHash: PasswordHashSchema.optional(),
  authorizedKeys: z.array(AuthorizedKeySchema).default([]),
  /** Returned with a successful login; flows on to authz and config (e.g. `team`, a token marked sensitive). */
  metadata: z.record(MetadataMapSchema.keyType, ValueEntrySchema).optional(),
  /** Environment variables for the user's sessions. */
  environment: z.record(EnvironmentMapSchema.keyType, ValueEntrySchema).optional(),
  /** Files written into the user's container (absolute paths in a writable place, e.g. the home folder). */
  files: z.record(FilesMapSchema.keyType, FileEntrySchema).optional(),
  /**
   * RFC 6238 secret (base32, at least 16 bytes): the user must then log in over keyboard-interactive
   * with the password and a one-time code; the password alone (`/password`) is refused.
   */
  totpSecret: z
    .string()
    .regex(/^[A-Z2-7]{26,}=*$/, 'expected a base32 secret of at least 16 bytes (A-Z, 2-7)')
    .optional(),
});
export type User = z.output<typeof UserSchema>;

/**
 * `KIND:ID` of an identity a login method vouched for (`certificate:<key id>`, `oidc:<subject>`,
 * `kerberos:<principal>`), mapped to the SSH usernames it may log in as.
 */
const IdentitySchema = z.string().regex(/^[a-z][a-z0-9-]*:.+$/, 'expected "kind:id", e.g. "certificate:alice@example.org"');

export const UsersFileSchema = z.strictObject({
  users: z.record(z.string().min(1).max(256), UserSchema),
  identities: z.record(IdentitySchema, z.array(z.string().min(1).max(256)).min(1)).default({}),
});

export class UsersFileError extends Error {
  override name = 'UsersFileError';
}

/** Reads and validates a users file; errors name the file and the bad path (`users.demo.passwordHash`). */
export async function loadUsersFile(file: string): Promise<UserDirectory> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsersFileError(`${file}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  return UserDirectory.create(parseUsersFile(text, file));
}

/** The users of a users file, plus its `identities` map (kept beside the users so existing callers see a Map). */
export class ParsedUsers extends Map<string, User> {
  identities = new Map<string, readonly string[]>();
}

/** Reads and validates a users file without hashing anything (cheap enough for a health probe). */
export async function readUsersFile(file: string): Promise<ParsedUsers> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsersFileError(`${file}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  return parseUsersFile(text, file);
}

export function parseUsersFile(text: string, file = 'users file'): ParsedUsers {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new UsersFileError(`${file}: not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const result = UsersFileSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path
      .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
      .join('')
      .slice(1);
    throw new UsersFileError(`${file}: ${where || '(top level)'}: ${issue?.message ?? 'invalid'}`);
  }
  // A Map, so usernames like "__proto__" or "constructor" can never hit Object.prototype.
  const users = new ParsedUsers(Object.entries(result.data.users));
  users.identities = new Map(Object.entries(result.data.identities));
  return users;
}

/**
 * argon2id at OWASP's recommended minimum (m=19 MiB, t=2, p=1): about a tenth of the library
 * default's cost (m=64 MiB, t=3, p=4 threads), so a password login stays quick and 50
 * concurrent logins need about 1 GiB instead of 3 GiB and 200 threads. A hash keeps its own
 * parameters, so hashes made with other costs still verify. The dummy hash uses this cost.
 */
export const PASSWORD_HASH_COST = { memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export async function hashPassword(password: string | Buffer): Promise<string> {
  return argon2.hash(password, { type: argon2.argon2id, ...PASSWORD_HASH_COST });
}

export class UserDirectory {
  /** Last accepted RFC 6238 time step per user: a code is good once (RFC 6238 §5.2). */
  private readonly lastTotpStep = new Map<string, number>();

  private constructor(
    private users: Map<string, User>,
    private readonly dummyHash: string,
    private identities: ReadonlyMap<string, readonly string[]>,
  ) {}

  /**
   * Puts a reloaded users file in service. Everything that holds this directory (routes, login
   * flows) sees the new users at once; what is not in the file stays: the one-time-code replay
   * guard here, and brute-force counters and keyboard-interactive conversations kept elsewhere.
   */
  replaceUsers(users: ParsedUsers): void {
    this.users = users;
    this.identities = users.identities;
  }

  static async create(users: Map<string, User>): Promise<UserDirectory> {
    const identities = users instanceof ParsedUsers ? users.identities : new Map<string, readonly string[]>();
    return new UserDirectory(users, await hashPassword(randomBytes(32)), identities);
  }

  /** The user must give a one-time code besides the password (keyboard-interactive only). */
  hasTotp(username: string): boolean {
    return this.users.get(username)?.totpSecret !== undefined;
  }

  /**
   * Checks a one-time code: the current 30 s step or the one before or after (clock drift),
   * never a step at or before the last code accepted for this user (no replay).
   */
  async verifyTotp(username: string, code: string): Promise<boolean> {
    const secret = this.users.get(username)?.totpSecret;
    if (secret === undefined || !/^\d{6}$/.test(code)) return false;
    const last = this.lastTotpStep.get(username);
    let result;
    try {
      result = await verifyTotpCode({ secret, token: code, epochTolerance: 30, ...(last !== undefined ? { afterTimeStep: last } : {}) });
    } catch {
      // e.g. the clock went back behind the last accepted step: refuse rather than fail.
      return false;
    }
    if (!result.valid || !('timeStep' in result)) return false;
    this.lastTotpStep.set(username, result.timeStep);
    return true;
  }

  /**
   * The SSH usernames an identity (`kind:id`) may log in as, from the users file's `identities`;
   * undefined when the file does not name it.
   */
  allowedUsernames(identity: string): readonly string[] | undefined {
    return this.identities.get(identity);
  }

  get size(): number {
    return this.users.size;
  }

  /**
   * True only for a known user with a password hash that matches. An unknown user (or one
   * without a password) still costs one argon2 verify, so timing does not reveal who exists.
   */
  async verifyPassword(username: string, password: Buffer): Promise<boolean> {
    const hash = this.users.get(username)?.passwordHash;
    const ok = await argon2.verify(hash ?? this.dummyHash, password);
    return ok && hash !== undefined;
  }

  /** What a successful login of `username` returns besides the decision; empty maps left out. */
  grantsOf(username: string): ConnectionMaps {
    const user = this.users.get(username);
    if (!user) return {};
    const nonEmpty = <T extends object>(map: T | undefined) => (map && Object.keys(map).length > 0 ? map : undefined);
    const maps: ConnectionMaps = {};
    const metadata = nonEmpty(user.metadata);
    const environment = nonEmpty(user.environment);
    const files = nonEmpty(user.files);
    if (metadata) maps.metadata = metadata;
    if (environment) maps.environment = environment;
    if (files) maps.files = files;
    return maps;
  }

  /** Compares the offered `type base64` key with every authorized key, without stopping early. */
  hasAuthorizedKey(username: string, publicKey: string): boolean {
    const offered = digest(publicKey.trim());
    let found = false;
    for (const key of this.users.get(username)?.authorizedKeys ?? []) {
      // Digests have equal length, as timingSafeEqual needs; it runs for every key, match or not.
      found = timingSafeEqual(offered, digest(key)) || found;
    }
    return found;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
