import { z } from 'zod';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

/** Durations carry a unit (`"10s"`, `"250ms"`, `"2m"`) and parse to milliseconds. */
export const DurationSchema = z
  .string()
  .regex(/^\d+(ms|s|m|h)$/, 'a duration is a whole number with a unit: ms, s, m or h (e.g. "10s")')
  .transform((text) => {
    const match = /^(\d+)(ms|s|m|h)$/.exec(text)!;
    return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  });
