import type { LogLine, RunningProgram } from './program.ts';

/**
 * Where a program's log stands now; `next(code)` then resolves with the first line carrying
 * `code` logged after this point, so an earlier test's line of the same code never counts.
 */
export function logMark(program: RunningProgram): {
  next(code: string, deadlineMs?: number): Promise<LogLine>;
  /** Resolves with how many lines carry `code` once there are at least `count` (a line may arrive after the event that caused it). */
  atLeast(code: string, count: number, deadlineMs?: number): Promise<number>;
} {
  const from = program.logs.length;
  const counted = (code: string) => program.logs.slice(from).filter((entry) => entry.code === code).length;
  return {
    atLeast: async (code, count, deadlineMs = 30_000) => {
      const end = Date.now() + deadlineMs;
      while (counted(code) < count) {
        if (Date.now() > end) throw new Error(`${program.name}: ${counted(code)} of ${count} log lines with code ${code} within ${deadlineMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return counted(code);
    },
    next: async (code, deadlineMs = 30_000) => {
      const end = Date.now() + deadlineMs;
      for (;;) {
        const line = program.logs.slice(from).find((entry) => entry.code === code);
        if (line) return line;
        if (Date.now() > end) throw new Error(`${program.name}: no new log line with code ${code} within ${deadlineMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}
