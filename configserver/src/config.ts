import { resolve } from 'node:path';
import { ConfigError, configReader, HttpLimitsSchema, listenSchema, opsConfigFields, readTlsMaterial, resolveCommonPaths, WebhookTlsSchema, type TlsMaterial } from '@portcullis/kit';
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

/** `loadConfig(file)` reads the YAML config, `parseConfig(text, file)` its text; relative paths resolve against the file's folder. */
export const { loadConfig, parseConfig } = configReader(ConfigSchema, (config, base) => ({
  ...config,
  ...resolveCommonPaths(config, base),
  policyDir: resolve(base, config.policyDir),
}));
