/**
 * Fuzz and soak tests run a short mode by default and a long one under `npm run test:long`
 * (PORTCULLIS_LONG=1). Both stay bounded in count and in time.
 */
export const LONG = process.env.PORTCULLIS_LONG === '1';

/** `short` in the default run, `long` under `npm run test:long`. */
export function byMode<T>(short: T, long: T): T {
  return LONG ? long : short;
}
