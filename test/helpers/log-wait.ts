import { pollUntil } from './poll-until.ts';
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
    atLeast: (code, count, deadlineMs = 30_000) =>
      pollUntil(() => counted(code), { what: `${program.name}: ${count} log lines with code ${code}`, until: (n) => n >= count, timeoutMs: deadlineMs, intervalMs: 50 }),
    next: (code, deadlineMs = 30_000) =>
      pollUntil(() => program.logs.slice(from).find((entry) => entry.code === code), { what: `${program.name}: a new log line with code ${code}`, timeoutMs: deadlineMs, intervalMs: 50 }),
  };
}
