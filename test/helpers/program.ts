import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { trackProcess } from './leftovers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface LogLine {
  readonly code?: string;
  readonly [field: string]: unknown;
}

/** One of the project's programs, started as a real process the way an operator starts it. */
export interface RunningProgram {
  readonly name: string;
  readonly port: number;
  /** Every stdout/stderr line so far, raw, for assertions that no secret was logged. */
  readonly output: string[];
  /** Parsed JSON log lines. */
  readonly logs: LogLine[];
  readonly process: ChildProcess;
  /** Resolves with the first log line carrying `code` (already seen or still to come). */
  waitForCode(code: string, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the process exited. */
  stop(): Promise<void>;
}

export async function startProgram(name: string, args: string[], readyCode: string, options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunningProgram> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackProcess(child);
  const output: string[] = [];
  const logs: LogLine[] = [];
  const waiters = new Set<{ code: string; resolve: (line: LogLine) => void }>();
  const onLine = (line: string) => {
    output.push(line);
    if (!line.startsWith('{')) return;
    try {
      const parsed = JSON.parse(line) as LogLine;
      logs.push(parsed);
      for (const waiter of waiters) {
        if (parsed.code === waiter.code) {
          waiters.delete(waiter);
          waiter.resolve(parsed);
        }
      }
    } catch {
      // not JSON: kept in output only
    }
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  const exited = once(child, 'exit');

  const waitForCode = (code: string, timeoutMs = 30_000): Promise<LogLine> => {
    const seen = logs.find((line) => line.code === code);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { code, resolve: (line: LogLine) => (clearTimeout(timer), resolve(line)) };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`${name}: no log line with code ${code} within ${timeoutMs} ms. Output:\n${output.join('\n')}`));
      }, timeoutMs);
      waiters.add(waiter);
      void exited.then(() => {
        if (!waiters.has(waiter)) return;
        waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`${name} exited before logging ${code}. Output:\n${output.join('\n')}`));
      });
    });
  };

  const ready = await waitForCode(readyCode, options.timeoutMs ?? 30_000);
  const port = Number(ready.port);
  return {
    name,
    port,
    output,
    logs,
    process: child,
    waitForCode,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
