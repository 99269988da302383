import { readFile, stat } from 'node:fs/promises';
import { parse } from 'yaml';
import { z } from 'zod';

/**
 * The revocation list: a YAML file of revoked certificate serials, key ids and keys (a user's
 * own key, or a CA key, in authorized-key form). OpenSSH's binary KRL is not read: this file is
 * meant to be edited by hand or generated, and takes effect on the next login without a restart.
 */
const RevocationFileSchema = z.strictObject({
  serials: z.array(z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/)])).default([]),
  keyIds: z.array(z.string().min(1)).default([]),
  keys: z.array(z.string().regex(/^[a-z0-9@.-]+ [A-Za-z0-9+/=]+(\s.*)?$/, 'expected "type base64 [comment]"')).default([]),
});

export interface RevocationList {
  readonly serials: ReadonlySet<bigint>;
  readonly keyIds: ReadonlySet<string>;
  /** `type base64` of each revoked key, comment dropped. */
  readonly keys: ReadonlySet<string>;
}

const EMPTY: RevocationList = { serials: new Set(), keyIds: new Set(), keys: new Set() };

export class RevocationListError extends Error {
  override name = 'RevocationListError';
}

/** Reads the file again whenever its modification time changes; an unreadable file throws (fail closed). */
export class RevocationFile {
  private cached: { mtimeMs: number; size: number; list: RevocationList } | undefined;

  constructor(private readonly file: string | undefined) {}

  async current(): Promise<RevocationList> {
    if (this.file === undefined) return EMPTY;
    let info;
    try {
      info = await stat(this.file);
    } catch (err) {
      throw new RevocationListError(`${this.file}: cannot read: ${(err as Error).message}`, { cause: err });
    }
    if (this.cached && this.cached.mtimeMs === info.mtimeMs && this.cached.size === info.size) return this.cached.list;
    const text = await readFile(this.file, 'utf8');
    let raw: unknown;
    try {
      raw = parse(text) ?? {};
    } catch (err) {
      throw new RevocationListError(`${this.file}: not valid YAML: ${(err as Error).message}`, { cause: err });
    }
    const result = RevocationFileSchema.safeParse(raw);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new RevocationListError(`${this.file}: ${issue?.path.join('.') || '(top level)'}: ${issue?.message ?? 'invalid'}`);
    }
    const list: RevocationList = {
      serials: new Set(result.data.serials.map((serial) => BigInt(serial))),
      keyIds: new Set(result.data.keyIds),
      keys: new Set(result.data.keys.map((line) => line.trim().split(/\s+/).slice(0, 2).join(' '))),
    };
    this.cached = { mtimeMs: info.mtimeMs, size: info.size, list };
    return list;
  }
}
