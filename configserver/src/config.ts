import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { checkLogTarget, HttpLimitsSchema, LogTargetFields } from './ops/index.ts';

/** `host:port` or `[v6]:port`; port 0 lets the OS choose (tests read it from the listening log line). */
const ListenSchema = z.string().transform((value, ctx) => {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    ctx.addIssue({ code: 'custom', message: 'expected "host:port" (e.g. "127.0.0.1:8444", "[::1]:8444")' });
    return z.NEVER;
  }
  return { host: match[1] ?? match[2] ?? '', port };
});

const TlsSchema = z.strictObject({
  certFile: z.string().min(1),
  keyFile: z.string().min(1),
  /** CA that signs the gateway's client certificate; anything else fails the TLS handshake. */
  clientCaFile: z.string().min(1),
  /** Optional pin: the client certificate's CN or a SAN DNS name must be in this list. */
  allowedClientNames: z.array(z.string().min(1)).min(1).optional(),
});

export const ConfigSchema = z.strictObject({
  listen: ListenSchema.default({ host: '127.0.0.1', port: 8444 }),
  tls: TlsSchema,
  /** Bounds on each webhook request and connection (see ops/http-limits.ts). */
  http: HttpLimitsSchema,
  /** Folder holding baseline.yaml (later also profiles/). */
  policyDir: z.string().min(1),
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
    policyDir: resolve(base, config.policyDir),
    tls: {
      ...config.tls,
      certFile: resolve(base, config.tls.certFile),
      keyFile: resolve(base, config.tls.keyFile),
      clientCaFile: resolve(base, config.tls.clientCaFile),
    },
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
