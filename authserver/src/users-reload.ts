import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { LogCode } from './errors.ts';
import { parseUsersFile, UsersFileError, type UserDirectory } from './users-file.ts';

/** An editor or `portcullis users` writes a temp file, then renames it: wait for the burst to end. */
const DEBOUNCE_MS = 150;

/**
 * Keeps the served users in step with the users file. The file's folder is watched, not the file:
 * an atomic replace (write a temp file, rename it over) gives the name a new inode that a watch on
 * the old one would never see; an in-place edit shows as a change of the same name. A new file
 * that does not load is refused: the last good users stay in service
 * (AUTHSERVER_USERS_RELOAD_FAILED) until the file is fixed.
 */
export class UsersFileReloader {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private digest: string | undefined;
  private readonly reloads: Counter<'result'>;
  /** Why the file as it is now does not load (the last good users still serve); undefined when it does. */
  lastReloadError: string | undefined;

  constructor(
    private readonly file: string,
    private readonly users: UserDirectory,
    private readonly log: Logger,
    registry?: Registry,
  ) {
    this.reloads = new Counter({
      name: 'portcullis_authserver_users_reloads_total',
      help: 'Reloads of the users file after it changed, by result (success, failure: the last good users stay).',
      labelNames: ['result'],
      registers: registry ? [registry] : [],
    });
    this.reloads.inc({ result: 'success' }, 0);
    this.reloads.inc({ result: 'failure' }, 0);
  }

  /** Remembers the content in service (read at start), so that a touch without a change is no reload. */
  async start(): Promise<void> {
    this.digest = await this.readDigest().catch(() => undefined);
    // Any change in the folder, not only to the file's own name: a Kubernetes Secret or ConfigMap
    // mount replaces its files by swapping the `..data` symlink, and `users.yaml` itself never
    // changes name. Other names (the lock and temp files of `portcullis users`) cost one read,
    // and the digest keeps an unchanged file from counting as a reload.
    this.watcher = watch(dirname(this.file), () => this.schedule());
    this.watcher.on('error', (err) => this.log.error({ code: LogCode.USERS_RELOAD_FAILED, file: this.file, reason: err.message }, 'cannot watch the users file folder'));
    this.watcher.unref();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.running.then(() => this.reload());
    }, DEBOUNCE_MS);
    this.timer.unref();
  }

  private async readDigest(text?: string): Promise<string> {
    return createHash('sha256')
      .update(text ?? (await readFile(this.file, 'utf8')))
      .digest('hex');
  }

  /** Reads the file again; true when its users are in service (also when nothing changed). */
  async reload(): Promise<boolean> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      return this.refuse(`${this.file}: cannot read: ${(err as Error).message}`);
    }
    const digest = await this.readDigest(text);
    if (digest === this.digest && this.lastReloadError === undefined) return true;
    let parsed;
    try {
      parsed = parseUsersFile(text, this.file);
    } catch (err) {
      if (!(err instanceof UsersFileError)) throw err;
      return this.refuse(err.message);
    }
    this.users.replaceUsers(parsed);
    this.digest = digest;
    this.lastReloadError = undefined;
    this.reloads.inc({ result: 'success' });
    this.log.info({ code: LogCode.USERS_RELOADED, file: this.file, users: parsed.size }, 'users file reloaded');
    return true;
  }

  private refuse(reason: string): false {
    this.lastReloadError = reason;
    this.reloads.inc({ result: 'failure' });
    this.log.error({ code: LogCode.USERS_RELOAD_FAILED, file: this.file, reason }, 'users file not reloaded; the last good users stay in service');
    return false;
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }
}
