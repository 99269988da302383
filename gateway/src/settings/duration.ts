import { durationSchema } from '@portcullis/kit';

/** Durations carry a unit (`"5s"`, `"250ms"`, `"2m"`) and parse to milliseconds. */
export const DurationSchema = durationSchema(['ms', 's', 'm', 'h'], 'a duration is a whole number with a unit: ms, s, m or h (e.g. "5s")');
