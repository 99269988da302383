import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { checkLogTarget, LogTargetFields } from './log-destination.ts';

/** `host:port` or `[v6]:port`; port 0 lets the OS choose (tests read it from the listening log line). */
export function listenSchema(examplePort: number) {
  return z.string().transform((value, ctx) => {
    const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
    const port = Number(match?.[3]);
    if (!match || port > 65535) {
      ctx.addIssue({ code: 'custom', message: `expected "host:port" (e.g. "127.0.0.1:${examplePort}", "[::1]:${examplePort}")` });
      return z.NEVER;
    }
    return { host: match[1] ?? match[2] ?? '', port };
  });
}

export const WebhookTlsSchema = z.strictObject({
  certFile: z.string().min(1),
  keyFile: z.string().min(1),
  /** CA that signs the gateway's client certificate; anything else fails the TLS handshake. */
  clientCaFile: z.string().min(1),
  /** Optional pin: the client certificate's CN or a SAN DNS name must be in this list. */
  allowedClientNames: z.array(z.string().min(1)).min(1).optional(),
});
export type WebhookTls = z.output<typeof WebhookTlsSchema>;

/** The `log`, `metrics` and `health` sections every webhook service's config has. */
export function opsConfigFields(examplePort: number) {
  const listen = listenSchema(examplePort);
  return {
    log: z
      .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), ...LogTargetFields })
      .superRefine(checkLogTarget)
      .default({ level: 'info', destination: 'stdout' }),
    /** Prometheus `/metrics` on its own plain-HTTP listener (off unless set). */
    metrics: z.strictObject({ listen }).optional(),
    /** `/healthz` for probes on a plain-HTTP listener (off unless set); the same address as metrics shares one. */
    health: z.strictObject({ listen }).optional(),
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads a YAML config file; the error names the file and what is wrong with it. */
export async function readConfigFile<S extends z.ZodType>(file: string, schema: S): Promise<z.output<S>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  return parseConfigText(text, file, schema);
}

/** Parses YAML config text against `schema`; the error names the file and the first bad option. */
export function parseConfigText<S extends z.ZodType>(text: string, file: string, schema: S): z.output<S> {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(`${file}: ${issue?.path.join('.') || '(top level)'}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}

/** The PEM material a webhook app needs, read from the files the config names. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
  allowedClientNames?: string[];
}

export async function readTlsMaterial(tls: WebhookTls): Promise<TlsMaterial> {
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

/** `log.file` and the TLS files of `config`, resolved against `base` (the config file's folder). */
export function resolveCommonPaths<C extends { log: { file?: string | undefined }; tls: WebhookTls }>(config: C, base: string): Pick<C, 'log' | 'tls'> {
  return {
    log: { ...config.log, ...(config.log.file ? { file: resolve(base, config.log.file) } : {}) },
    tls: {
      ...config.tls,
      certFile: resolve(base, config.tls.certFile),
      keyFile: resolve(base, config.tls.keyFile),
      clientCaFile: resolve(base, config.tls.clientCaFile),
    },
  };
}

/**
 * `loadConfig(file)` and `parseConfig(text, file)` for a program's config schema; relative
 * paths are resolved by `resolvePaths` against the config file's folder.
 */
export function configReader<S extends z.ZodType>(schema: S, resolvePaths: (config: z.output<S>, base: string) => z.output<S>) {
  return {
    loadConfig: async (file: string): Promise<z.output<S>> => resolvePaths(await readConfigFile(file, schema), dirname(resolve(file))),
    parseConfig: (text: string, file: string): z.output<S> => resolvePaths(parseConfigText(text, file, schema), dirname(resolve(file))),
  };
}
