import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type KinitResult =
  | { readonly outcome: 'granted'; readonly ccache: Buffer }
  /** The KDC said no: wrong password, unknown or locked principal, expired password. */
  | { readonly outcome: 'refused'; readonly reason: string }
  /** No answer from Kerberos (KDC down, bad krb5.conf, timeout): unavailable, not denied. */
  | { readonly outcome: 'failed'; readonly reason: string };

export interface KinitOptions {
  readonly kinitPath: string;
  readonly configPath: string;
  readonly timeoutMs: number;
}

/**
 * MIT kinit's messages for a KDC that answered and refused (krb5 error table texts). Anything
 * else means the KDC could not be asked, and the caller fails closed as "unavailable".
 */
const REFUSED = [
  /Password incorrect/i,
  /Preauthentication failed/i,
  /not found in Kerberos database/i,
  /credentials have been revoked/i,
  /Password has expired/i,
  /Cannot read password/i,
  /Password read interrupted/i,
];

/**
 * Obtains a ticket-granting ticket for `principal` with MIT kinit. The password goes on stdin
 * (never argv or the environment, both visible to other processes); the ticket goes into a
 * fresh 0700 folder that is removed before this returns. Only KRB5_CONFIG and PATH reach kinit,
 * so the authserver's own environment (a KRB5CCNAME of its own) cannot redirect the cache.
 */
export async function obtainTicket(options: KinitOptions, principal: string, password: Buffer): Promise<KinitResult> {
  // kinit reads one line: a password with a line break (or NUL) could never be the one checked.
  if (password.length === 0 || password.some((byte) => byte === 0x0a || byte === 0x0d || byte === 0x00)) {
    return { outcome: 'refused', reason: 'password has a line break or NUL' };
  }
  const dir = await mkdtemp(join(tmpdir(), 'authserver-krb5-'));
  const cache = join(dir, 'ccache');
  try {
    const { code, stderr, timedOut, spawnError } = await run(options, principal, `FILE:${cache}`, password);
    if (spawnError) return { outcome: 'failed', reason: `cannot run ${options.kinitPath}: ${spawnError}` };
    if (timedOut) return { outcome: 'failed', reason: `no answer within ${options.timeoutMs} ms` };
    if (code === 0) return { outcome: 'granted', ccache: await readFile(cache) };
    const line = firstLine(stderr);
    return REFUSED.some((pattern) => pattern.test(stderr)) ? { outcome: 'refused', reason: line } : { outcome: 'failed', reason: line };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function run(options: KinitOptions, principal: string, cache: string, password: Buffer) {
  return new Promise<{ code: number | null; stderr: string; timedOut: boolean; spawnError?: string }>((resolve) => {
    const child = spawn(options.kinitPath, ['-c', cache, principal], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', KRB5_CONFIG: options.configPath, LANG: 'C' },
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 4096) stderr += chunk;
    });
    child.stdin.on('error', () => undefined); // kinit may exit before reading (bad config): not our error
    child.stdin.end(Buffer.concat([password, Buffer.from('\n')]));
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, stderr, timedOut, spawnError: error.message });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, timedOut });
    });
  });
}

/** kinit's first message line, without its program prefix; it names the principal, never the password. */
function firstLine(stderr: string): string {
  const line = stderr.split('\n').find((text) => text.trim().length > 0 && !/^Password for /.test(text)) ?? '(no message)';
  return line.replace(/^kinit:\s*/, '').slice(0, 300);
}
