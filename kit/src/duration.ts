import { z } from 'zod';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
type Unit = keyof typeof UNIT_MS;

/** `"10s"`, `"250ms"`, `"2m"`, `"1h"` in milliseconds; undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h)$/.exec(text);
  return match ? Number(match[1]) * UNIT_MS[match[2] as Unit] : undefined;
}

/**
 * A duration schema that takes only `units` and parses to milliseconds (divided by `per`, so
 * `per: 1000` gives seconds). Each config keeps its own units and message, so a setting that
 * never took `h` does not start to.
 */
export function durationSchema(units: readonly Unit[], message: string, per = 1) {
  const pattern = new RegExp(`^\\d+(${units.join('|')})$`);
  return z
    .string()
    .regex(pattern, message)
    .transform((text) => parseDuration(text)! / per);
}

/** Durations carry a unit (`"10s"`, `"250ms"`, `"2m"`) and parse to milliseconds. */
export const DurationSchema = durationSchema(['ms', 's', 'm', 'h'], 'a duration is a whole number with a unit: ms, s, m or h (e.g. "10s")');
