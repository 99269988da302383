import { z } from 'zod';
import type { ConnectionMaps } from '@portcullis/wire';

/**
 * How the access token reaches the session container, if at all. Both are sensitive entries:
 * never logged, not re-sent to later webhooks unless the gateway is configured to.
 */
export const TokenExposureSchema = z
  .strictObject({
    /** Environment variable holding the token (e.g. `GITHUB_TOKEN`, `OIDC_TOKEN`). */
    environment: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
      .optional(),
    /** File holding the token, mode 0600, in a writable place of the container (its home). */
    file: z
      .string()
      .regex(/^\/[^\0]*$/, 'an absolute path inside the container')
      .refine((path) => !path.split('/').includes('..'), 'may not contain ".."')
      .optional(),
  })
  .default({});
export type TokenExposure = z.output<typeof TokenExposureSchema>;

/** The token as ContainerSSH's `oauth2_access_token` metadata (sensitive), plus the configured exposure. */
export function tokenGrants(token: string, exposure: TokenExposure): ConnectionMaps {
  return {
    metadata: { oauth2_access_token: { value: token, sensitive: true } },
    ...(exposure.environment ? { environment: { [exposure.environment]: { value: token, sensitive: true } } } : {}),
    ...(exposure.file ? { files: { [exposure.file]: { value: Buffer.from(token, 'utf8').toString('base64'), sensitive: true, mode: '0600' } } } : {}),
  };
}

/**
 * The scopes a token response granted. RFC 6749 §5.1: the server may leave `scope` out when it
 * granted exactly what was asked. GitHub separates with commas, OAuth with spaces.
 */
export function grantedScopes(scope: string | undefined, requested: readonly string[]): Set<string> {
  if (scope === undefined) return new Set(requested);
  return new Set(scope.split(/[\s,]+/).filter((name) => name.length > 0));
}

/** Requested scopes the token does not carry (what `enforceScopes` refuses). */
export function missingScopes(requested: readonly string[], granted: Set<string>): string[] {
  return requested.filter((name) => !granted.has(name));
}
