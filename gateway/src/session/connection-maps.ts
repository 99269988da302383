import type { ConnectionMaps } from '@portcullis/wire';

/**
 * Merges one webhook's maps over what earlier steps set. Additive, key by key: a later
 * step adds and overrides keys but never drops one (the ContainerSSH 0.6 fix).
 */
export function mergeConnectionMaps(earlier: ConnectionMaps, later: ConnectionMaps): ConnectionMaps {
  return {
    metadata: { ...earlier.metadata, ...later.metadata },
    environment: { ...earlier.environment, ...later.environment },
    files: { ...earlier.files, ...later.files },
  };
}
