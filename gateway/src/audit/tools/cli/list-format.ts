import type { RecordingOverview } from '../../format/recording-summary.ts';

export const OVERVIEW_COLUMNS = ['ID', 'USER', 'ADDRESS', 'START', 'DURATION', 'IN', 'OUT', 'EXIT', 'STATE'] as const;

/** `1m05s`, `2h03m`, `0.4s`: short enough for a table column. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`;
}

/** Bytes with a binary unit: `512`, `1.5K`, `20.0M`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return String(bytes);
  const units = ['K', 'M', 'G', 'T'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)}${units[unit]}`;
}

/** The columns of one recording as text, in OVERVIEW_COLUMNS order (the table and the player share them). */
export function overviewCells(overview: RecordingOverview): string[] {
  return [
    overview.id,
    overview.user || '-',
    overview.address || '-',
    overview.start ? overview.start.replace(/\.\d+Z$/, 'Z') : '-',
    formatDuration(overview.durationSeconds),
    formatBytes(overview.bytesIn),
    formatBytes(overview.bytesOut),
    overview.exitStatus.length > 0 ? overview.exitStatus.join(',') : '-',
    overview.state,
  ];
}

/** A plain aligned table; user-controlled text (usernames) loses control characters so it cannot drive the terminal. */
export function formatOverviewTable(overviews: readonly RecordingOverview[]): string {
  const rows = [[...OVERVIEW_COLUMNS], ...overviews.map((overview) => overviewCells(overview).map((cell) => cell.replace(/[\p{Cc}\s]/gu, '?')))];
  const widths = OVERVIEW_COLUMNS.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => `${row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')}\n`).join('');
}

/**
 * `--since`: an ISO 8601 time, or an age before now (`30m`, `2h`, `7d`). null when neither.
 */
export function parseSince(text: string, now = Date.now()): Date | null {
  const age = /^(\d{1,6})([smhd])$/.exec(text);
  if (age) return new Date(now - Number(age[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[age[2] as 's' | 'm' | 'h' | 'd'] * 1000);
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) return null;
  const time = Date.parse(text);
  return Number.isNaN(time) ? null : new Date(time);
}
