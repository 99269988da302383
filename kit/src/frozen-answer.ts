/** Objects frozen all the way down by `frozenAnswer`; nothing reachable from them can change. */
const frozen = new WeakSet<object>();

/**
 * Freezes `value` and everything reachable from it, and marks it so that a webhook app sends
 * its checked JSON again without checking and serializing it again: a cached answer served to
 * many requests costs its schema check once. Mutating it afterwards throws (ES modules are
 * strict), so a cached answer can never drift from the JSON kept for it.
 */
export function frozenAnswer<T extends object>(value: T): T {
  freeze(value);
  return value;
}

/** True when `value` was passed to `frozenAnswer` (or is reachable from one that was). */
export function isFrozenAnswer(value: unknown): value is object {
  return typeof value === 'object' && value !== null && frozen.has(value);
}

function freeze(value: object): void {
  if (frozen.has(value)) return;
  for (const child of Object.values(value)) if (typeof child === 'object' && child !== null) freeze(child as object);
  Object.freeze(value);
  frozen.add(value);
}
