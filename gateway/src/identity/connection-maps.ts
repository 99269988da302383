import type { ConnectionMaps, MetadataValue } from '@portcullis/wire';

/** Every map present, so later steps never test for undefined. */
export type FullConnectionMaps = Required<{ [K in keyof ConnectionMaps]: NonNullable<ConnectionMaps[K]> }>;

/**
 * Merges one webhook's maps over what earlier steps set. Additive, key by key: a later
 * step adds and overrides keys but never drops one (the ContainerSSH 0.6 fix).
 */
export function mergeConnectionMaps(earlier: ConnectionMaps, later: ConnectionMaps): FullConnectionMaps {
  return {
    metadata: { ...earlier.metadata, ...later.metadata },
    environment: { ...earlier.environment, ...later.environment },
    files: { ...earlier.files, ...later.files },
  };
}

/**
 * The maps as the next webhook gets them: without sensitive entries unless `transmitSensitive`,
 * and without empty maps (ContainerSSH's omitempty).
 */
export function mapsForWebhook(maps: ConnectionMaps, transmitSensitive: boolean): ConnectionMaps {
  const out: ConnectionMaps = {};
  for (const name of ['metadata', 'environment', 'files'] as const) {
    const entries = Object.entries(maps[name] ?? {}).filter(([, entry]) => transmitSensitive || !entry.sensitive);
    if (entries.length > 0) (out as Record<string, unknown>)[name] = Object.fromEntries(entries);
  }
  return out;
}

/**
 * Metadata the gateway itself knows and vouches for; it overrides a webhook's entry of the same
 * name, since it is a fact about the connection, not a claim.
 *
 * - `authMethod`: how the user logged in, as SSH names it (`password`, `publickey`, `keyboard-interactive`). Policies match on it.
 */
export function withGatewayMetadata(maps: ConnectionMaps, facts: { authMethod: string }): FullConnectionMaps {
  const metadata: Record<string, MetadataValue> = { authMethod: { value: facts.authMethod, sensitive: false } };
  return mergeConnectionMaps(maps, { metadata });
}

/** Names only, for logs: what each map holds, never a value. */
export function describeMaps(maps: ConnectionMaps): Record<string, number> {
  return {
    metadataEntries: Object.keys(maps.metadata ?? {}).length,
    environmentEntries: Object.keys(maps.environment ?? {}).length,
    files: Object.keys(maps.files ?? {}).length,
  };
}
