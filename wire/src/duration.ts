/** A whole number with a unit, as Go prints durations and as every config writes them (`"30s"`). */
export const DURATION_PATTERN = /^\d+(ms|s|m|h)$/;

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

/** `"10s"`, `"250ms"`, `"2m"`, `"1h"` in milliseconds; undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION_PATTERN.exec(text);
  if (!match) return undefined;
  const unit = match[1] as keyof typeof UNIT_MS;
  return Number(text.slice(0, -unit.length)) * UNIT_MS[unit];
}
