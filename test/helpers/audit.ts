import { execFile, spawn } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { trackProcess } from './leftovers.ts';
import { pollUntil } from './poll-until.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `npm run audit -- <args>` as an operator runs it: exit code and output. */
export function auditCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/src/audit/tools/cli/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    trackProcess(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Debian's `asciinema cat`: the terminal output of a cast file, as a player would show it.
 * It insists on a controlling terminal (/dev/tty), so it runs under util-linux `script`.
 */
export async function asciinemaCat(file: string): Promise<string> {
  const quoted = `'${file.replace(/'/g, `'\\''`)}'`;
  const { stdout } = await run('script', ['-q', '-e', '-c', `asciinema cat ${quoted}`, '/dev/null'], { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 });
  return stdout;
}

/** The recording folders in a local audit directory. */
export async function recordingFolders(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => /^\d{8}T\d{6}Z-/.test(name)).sort();
}

/** Total bytes of every file of one recording (streams and indexes). */
export async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) total += (await stat(join(dir, name))).size;
  return total;
}

/** Polls `check` until it returns a value, bounded by a deadline. */
export async function eventually<T>(check: () => Promise<T | undefined>, what: string, deadlineMs = 30_000): Promise<T> {
  return pollUntil(check, { what, until: (value): value is T => value !== undefined, timeoutMs: deadlineMs }) as Promise<T>;
}

export async function readText(file: string): Promise<string> {
  return readFile(file, 'utf8');
}
