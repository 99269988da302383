import type { ConnectionMaps } from '@portcullis/wire';

/**
 * ContainerSSH's merge: key by key, a later map overwrites the same key and never removes one.
 * Empty maps are left out of the answer, as ContainerSSH leaves them out (omitempty).
 */
export function mergeGrants(...layers: ConnectionMaps[]): ConnectionMaps {
  const merged: ConnectionMaps = {};
  for (const key of ['metadata', 'environment', 'files'] as const) {
    const entries = Object.assign({}, ...layers.map((layer) => layer[key] ?? {})) as Record<string, never>;
    if (Object.keys(entries).length > 0) merged[key] = entries;
  }
  return merged;
}
