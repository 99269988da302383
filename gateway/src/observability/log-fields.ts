/**
 * Longest string a log field keeps. Many fields carry what a client chose (user names,
 * commands, subsystem and env names, version strings); without a bound, one client with a
 * 30,000-character name writes 30 KB per attempt to the operator's disk.
 */
export const MAX_LOG_FIELD_CHARS = 512;

/** Cuts long strings (at any depth up to 3 levels) and says how long they were. */
export function truncateLogFields(object: Record<string, unknown>, max = MAX_LOG_FIELD_CHARS): Record<string, unknown> {
  return truncateRecord(object, max, 3);
}

function truncateRecord(object: Record<string, unknown>, max: number, depth: number): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(object)) {
    const cut = truncateValue(value, max, depth);
    if (cut !== value) {
      copy ??= { ...object };
      copy[key] = cut;
    }
  }
  return copy ?? object;
}

function truncateValue(value: unknown, max: number, depth: number): unknown {
  if (typeof value === 'string') {
    if (value.length <= max) return value;
    // The cut string fits the bound itself, so cutting twice (serializer, then formatter) changes nothing.
    const suffix = `…[${value.length} chars]`;
    return `${value.slice(0, Math.max(0, max - suffix.length))}${suffix}`;
  }
  if (depth <= 0 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const items = value.length > 32 ? [...value.slice(0, 32), `…[${value.length} items]`] : value;
    const cut = items.map((item) => truncateValue(item, max, depth - 1));
    return cut.some((item, i) => item !== value[i]) || items !== value ? cut : value;
  }
  if (value instanceof Error || Buffer.isBuffer(value)) return value;
  return truncateRecord(value as Record<string, unknown>, max, depth - 1);
}

/** One string field cut to the bound; anything else passes unchanged. */
export function truncateLogValue(value: unknown): unknown {
  return truncateValue(value, MAX_LOG_FIELD_CHARS, 3);
}

/**
 * pino formats a child logger's bindings without the `bindings` formatter, so the keys a
 * child may bind with client-chosen text are bounded by serializers, which pino applies there.
 */
export const BOUNDED_BINDING_SERIALIZERS = Object.fromEntries(
  ['username', 'authenticatedUsername', 'clientVersion', 'remoteAddress', 'subsystem', 'command', 'term', 'channel', 'upstream'].map((key) => [key, truncateLogValue]),
);
