import { parseDuration } from '@portcullis/wire';
import { z } from 'zod';

export { parseDuration };

type Unit = 'ms' | 's' | 'm' | 'h';

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
