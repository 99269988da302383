import type { MetadataMap } from '@portcullis/wire';

/** Claims copied per login, at most; a provider that sends more is cut short rather than trusted. */
const MAX_CLAIMS = 64;
const MAX_VALUE = 4096;

/**
 * Userinfo claims as metadata, ContainerSSH-style `oidc_<claim>`: strings as they are, lists of
 * strings comma-separated (groups), anything else as JSON. None of them is a secret.
 */
export function claimsMetadata(claims: Record<string, unknown>, groupsClaim: string): MetadataMap {
  const metadata: MetadataMap = {};
  for (const [name, value] of Object.entries(claims).slice(0, MAX_CLAIMS)) {
    if (!/^[A-Za-z0-9_.:-]{1,200}$/.test(name) || value === undefined || value === null) continue;
    const text = typeof value === 'string' ? value : Array.isArray(value) && value.every((item) => typeof item === 'string') ? value.join(',') : JSON.stringify(value);
    metadata[name === groupsClaim ? 'oidc_groups' : `oidc_${name}`] = { value: text.slice(0, MAX_VALUE), sensitive: false };
  }
  return metadata;
}
