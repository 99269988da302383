import { dirname, resolve } from 'node:path';
import {
  ConfigError,
  HttpLimitsSchema,
  listenSchema,
  opsConfigFields,
  parseConfigText,
  readConfigFile,
  readTlsMaterial,
  resolveCommonPaths,
  WebhookTlsSchema,
  type TlsMaterial,
} from '@portcullis/kit';
import { z } from 'zod';

export const ConfigSchema = z.strictObject({
  listen: listenSchema(8444).default({ host: '127.0.0.1', port: 8444 }),
  tls: WebhookTlsSchema,
  /** Bounds on each webhook request and connection (see kit/src/http-limits.ts). */
  http: HttpLimitsSchema,
  /** Folder holding baseline.yaml (later also profiles/). */
  policyDir: z.string().min(1),
  ...opsConfigFields(8444),
});
export type Config = z.output<typeof ConfigSchema>;

export { ConfigError, readTlsMaterial, type TlsMaterial };

/** Reads the YAML config; relative paths resolve against the config file's folder. */
export async function loadConfig(file: string): Promise<Config> {
  return resolvePaths(await readConfigFile(file, ConfigSchema), file);
}

export function parseConfig(text: string, file: string): Config {
  return resolvePaths(parseConfigText(text, file, ConfigSchema), file);
}

function resolvePaths(config: Config, file: string): Config {
  const base = dirname(resolve(file));
  return { ...config, ...resolveCommonPaths(config, base), policyDir: resolve(base, config.policyDir) };
}
