import { z } from 'zod';
import { DurationSchema } from '@portcullis/kit';

/** `EXAMPLE.ORG`: what a Kerberos realm looks like in practice (upper case by convention, not by rule). */
export const RealmSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/, 'expected a realm name, e.g. "EXAMPLE.ORG"');

/**
 * `kerberos:` in the authserver config. When present, `/password` checks every password
 * against the KDC (ContainerSSH's `auth.password.method: kerberos`).
 */
export const KerberosConfigSchema = z.strictObject({
  /** krb5.conf naming the realm's KDCs (ContainerSSH `configPath`). */
  configPath: z.string().min(1).default('/etc/krb5.conf'),
  /** The realm of SSH usernames without `@REALM`; a principal of this realm authenticates under its short name. */
  realm: RealmSchema,
  /**
   * true (ContainerSSH's default): the principal's name must be the SSH username. false: the
   * principal logs in under another SSH username and /authz (or the config server) decides.
   */
  enforceUsername: z.boolean().default(true),
  /** Where the ticket lands in the session container; KRB5CCNAME points at it (ContainerSSH default). */
  credentialCachePath: z
    .string()
    .regex(/^\/[^\0]*$/, 'an absolute path inside the container')
    .refine((path) => !path.split('/').includes('..'), 'may not contain ".."')
    .default('/tmp/krb5cc'),
  /** MIT krb5's kinit (Debian krb5-user). */
  kinitPath: z.string().min(1).default('kinit'),
  /** Longest wait for the KDC; a slower answer is "unavailable", never "denied". */
  timeout: DurationSchema.default(10_000),
});
export type KerberosConfig = z.output<typeof KerberosConfigSchema>;
