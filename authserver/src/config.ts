import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, configReader, durationSchema, HttpLimitsSchema, listenSchema, opsConfigFields, readTlsMaterial, resolveCommonPaths, WebhookTlsSchema, type TlsMaterial } from '@portcullis/kit';
import { KerberosConfigSchema } from './methods/kerberos/config.ts';
import { OidcConfigSchema } from './methods/oidc/config.ts';
import { GithubConfigSchema } from './methods/github/config.ts';

const ListenSchema = listenSchema(8443);

/** A duration with its unit (`"90s"`, `"15m"`, `"1h"`), in whole seconds. */
const DurationSchema = durationSchema(['s', 'm', 'h'], 'expected a duration such as "30s", "15m" or "1h"', 1_000).refine((seconds) => seconds >= 1, 'at least 1s');

export const ConfigSchema = z.strictObject({
  listen: ListenSchema.default({ host: '127.0.0.1', port: 8443 }),
  tls: WebhookTlsSchema,
  /** Bounds on each webhook request and connection (see kit/src/http-limits.ts). */
  http: HttpLimitsSchema,
  usersFile: z.string().min(1),
  /** Passwords are checked against a Kerberos KDC (methods/kerberos); see README "Kerberos". */
  kerberos: KerberosConfigSchema.optional(),
  /** OpenID Connect over keyboard-interactive (methods/oidc); see README "OIDC". */
  oidc: OidcConfigSchema.optional(),
  /** GitHub's OAuth device flow over keyboard-interactive (methods/github); see README "GitHub". */
  github: GithubConfigSchema.optional(),
  /** OpenSSH user certificates on /pubkey: the CAs trusted to sign them, and what is revoked. */
  userCertificates: z
    .strictObject({
      /** One CA public key per line (authorized-key form), like sshd's TrustedUserCAKeys. */
      trustedCaKeysFile: z.string().min(1),
      /** YAML of revoked `serials`, `keyIds` and `keys`; re-read when it changes. */
      revocationFile: z.string().min(1).optional(),
    })
    .optional(),
  /** Brute-force protection across connections; `false` turns it off. */
  bruteForce: z
    .union([
      z.literal(false),
      z.strictObject({
        addressFailures: z.number().int().positive().default(50),
        addressUserFailures: z.number().int().positive().default(10),
        window: DurationSchema.default(15 * 60),
        addressBlock: DurationSchema.default(15 * 60),
        addressUserBackoff: DurationSchema.default(1),
        addressUserBackoffMax: DurationSchema.default(15 * 60),
      }),
    ])
    .default({ addressFailures: 50, addressUserFailures: 10, window: 15 * 60, addressBlock: 15 * 60, addressUserBackoff: 1, addressUserBackoffMax: 15 * 60 }),
  ...opsConfigFields(8443),
});
export type Config = z.output<typeof ConfigSchema>;

export { ConfigError, readTlsMaterial, type TlsMaterial };

/** `loadConfig(file)` reads the YAML config, `parseConfig(text, file)` its text; relative paths resolve against the file's folder. */
export const { loadConfig, parseConfig } = configReader(ConfigSchema, (config, base) => ({
  ...config,
  ...resolveCommonPaths(config, base),
  usersFile: resolve(base, config.usersFile),
  ...(config.userCertificates
    ? {
        userCertificates: {
          trustedCaKeysFile: resolve(base, config.userCertificates.trustedCaKeysFile),
          ...(config.userCertificates.revocationFile ? { revocationFile: resolve(base, config.userCertificates.revocationFile) } : {}),
        },
      }
    : {}),
  ...(config.kerberos ? { kerberos: { ...config.kerberos, configPath: resolve(base, config.kerberos.configPath) } } : {}),
}));

/** The trusted CA keys, one per non-comment line; a line that is not a key names the file and line. */
export async function readTrustedCaKeys(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`userCertificates.trustedCaKeysFile: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  const keys: string[] = [];
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!/^[a-z0-9@.-]+ [A-Za-z0-9+/=]+(\s.*)?$/.test(line)) throw new ConfigError(`${file}:${index + 1}: expected "type base64 [comment]"`);
    keys.push(line);
  }
  if (keys.length === 0) throw new ConfigError(`${file}: no CA key`);
  return keys;
}
