import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { checkLogTarget, HttpLimitsSchema, LogTargetFields } from './ops/index.ts';
import { KerberosConfigSchema } from './methods/kerberos/config.ts';
import { OidcConfigSchema } from './methods/oidc/config.ts';
import { GithubConfigSchema } from './methods/github/config.ts';

/** `host:port` or `[v6]:port`; port 0 lets the OS choose (tests read it from the listening log line). */
const ListenSchema = z.string().transform((value, ctx) => {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    ctx.addIssue({ code: 'custom', message: 'expected "host:port" (e.g. "127.0.0.1:8443", "[::1]:8443")' });
    return z.NEVER;
  }
  return { host: match[1] ?? match[2] ?? '', port };
});

/** A duration with its unit (`"90s"`, `"15m"`, `"1h"`), in whole seconds. */
const DurationSchema = z
  .string()
  .regex(/^\d+(s|m|h)$/, 'expected a duration such as "30s", "15m" or "1h"')
  .transform((text) => Number.parseInt(text, 10) * { s: 1, m: 60, h: 3600 }[text.slice(-1) as 's' | 'm' | 'h'])
  .refine((seconds) => seconds >= 1, 'at least 1s');

const TlsSchema = z.strictObject({
  certFile: z.string().min(1),
  keyFile: z.string().min(1),
  /** CA that signs the gateway's client certificate; anything else fails the TLS handshake. */
  clientCaFile: z.string().min(1),
  /** Optional pin: the client certificate's CN or a SAN DNS name must be in this list. */
  allowedClientNames: z.array(z.string().min(1)).min(1).optional(),
});

export const ConfigSchema = z.strictObject({
  listen: ListenSchema.default({ host: '127.0.0.1', port: 8443 }),
  tls: TlsSchema,
  /** Bounds on each webhook request and connection (see ops/http-limits.ts). */
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
  log: z
    .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), ...LogTargetFields })
    .superRefine(checkLogTarget)
    .default({ level: 'info', destination: 'stdout' }),
  /** Prometheus `/metrics` on its own plain-HTTP listener (off unless set). */
  metrics: z.strictObject({ listen: ListenSchema }).optional(),
  /** `/healthz` for probes on a plain-HTTP listener (off unless set); the same address as metrics shares one. */
  health: z.strictObject({ listen: ListenSchema }).optional(),
});
export type Config = z.output<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads the YAML config; relative paths resolve against the config file's folder. */
export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  return parseConfig(text, file);
}

export function parseConfig(text: string, file: string): Config {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(`${file}: ${issue?.path.join('.') || '(top level)'}: ${issue?.message ?? 'invalid'}`);
  }
  const base = dirname(resolve(file));
  const config = result.data;
  return {
    ...config,
    log: { ...config.log, ...(config.log.file ? { file: resolve(base, config.log.file) } : {}) },
    usersFile: resolve(base, config.usersFile),
    ...(config.userCertificates
      ? {
          userCertificates: {
            trustedCaKeysFile: resolve(base, config.userCertificates.trustedCaKeysFile),
            ...(config.userCertificates.revocationFile ? { revocationFile: resolve(base, config.userCertificates.revocationFile) } : {}),
          },
        }
      : {}),
    tls: {
      ...config.tls,
      certFile: resolve(base, config.tls.certFile),
      keyFile: resolve(base, config.tls.keyFile),
      clientCaFile: resolve(base, config.tls.clientCaFile),
    },
    ...(config.kerberos ? { kerberos: { ...config.kerberos, configPath: resolve(base, config.kerberos.configPath) } } : {}),
  };
}

/** The PEM material buildApp needs, read from the files the config names. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
  allowedClientNames?: string[];
}

export async function readTlsMaterial(tls: Config['tls']): Promise<TlsMaterial> {
  const read = async (option: string, file: string) => {
    try {
      return await readFile(file);
    } catch (err) {
      throw new ConfigError(`tls.${option}: cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  return {
    cert: await read('certFile', tls.certFile),
    key: await read('keyFile', tls.keyFile),
    ca: await read('clientCaFile', tls.clientCaFile),
    ...(tls.allowedClientNames ? { allowedClientNames: tls.allowedClientNames } : {}),
  };
}

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
