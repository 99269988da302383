import type { ConnectionMaps } from '@portcullis/wire';
import type { KerberosConfig } from './config.ts';
import { obtainTicket } from './kinit.ts';
import { principalOf } from './principal.ts';

export type KerberosDecision =
  | {
      readonly accepted: true;
      /** The principal's name (short for the configured realm): what /authz and config see as the identity. */
      readonly authenticatedUsername: string;
      readonly principal: string;
      /** The ticket as a sensitive file, KRB5CCNAME pointing at it, and the principal as metadata. */
      readonly maps: ConnectionMaps;
    }
  | { readonly accepted: false; readonly reason: 'not-a-principal' | 'credentials' | 'username-mismatch'; readonly principal?: string; readonly detail?: string };

/** The KDC could not be asked: the route answers 503 so the gateway refuses as "unavailable". */
export class KerberosUnavailable extends Error {
  override name = 'KerberosUnavailable';
}

/**
 * Password → ticket against a real KDC. `enforceUsername` is checked after the KDC accepted the
 * password, as ContainerSSH 0.6 does, so a mismatch is refused whatever the password.
 */
export class KerberosPasswordCheck {
  constructor(private readonly config: KerberosConfig) {}

  async verify(sshUsername: string, password: Buffer): Promise<KerberosDecision> {
    const principal = principalOf(sshUsername, this.config.realm);
    if (!principal) return { accepted: false, reason: 'not-a-principal' };
    const result = await obtainTicket({ kinitPath: this.config.kinitPath, configPath: this.config.configPath, timeoutMs: this.config.timeout }, principal.principal, password);
    if (result.outcome === 'failed') throw new KerberosUnavailable(result.reason);
    if (result.outcome === 'refused') return { accepted: false, reason: 'credentials', principal: principal.principal, detail: result.reason };
    if (this.config.enforceUsername && principal.identity !== sshUsername) {
      return { accepted: false, reason: 'username-mismatch', principal: principal.principal };
    }
    const path = this.config.credentialCachePath;
    return {
      accepted: true,
      authenticatedUsername: principal.identity,
      principal: principal.principal,
      maps: {
        // `identity` is what /authz maps to SSH usernames (users file `identities`).
        metadata: {
          identity: { value: `kerberos:${principal.principal}`, sensitive: false },
          kerberos_principal: { value: principal.principal, sensitive: false },
        },
        environment: { KRB5CCNAME: { value: `FILE:${path}`, sensitive: false } },
        files: { [path]: { value: result.ccache.toString('base64'), sensitive: true, mode: '0600' } },
      },
    };
  }
}
