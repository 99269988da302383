import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { GatewayError } from '../errors.ts';
import { GatewayConfigSchema, type GatewayConfig, type WebhookConfig } from './gateway-config.ts';

/** Names every problem by its option path, so an operator can fix the file without reading code. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.length ? issue.path.join('.') : '(top level)'}: ${issue.message}`).join('; ');
}

export async function loadGatewayConfig(file: string): Promise<GatewayConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new GatewayError('GATEWAY_CONFIG_INVALID', `Cannot read the gateway config file ${file}.`, { cause });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw new GatewayError('GATEWAY_CONFIG_INVALID', `${file} is not valid YAML: ${(cause as Error).message}`, { cause });
  }
  const parsed = GatewayConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new GatewayError('GATEWAY_CONFIG_INVALID', `${file}: ${describeIssues(parsed.error)}`);
  }
  return resolvePaths(parsed.data, dirname(resolve(file)));
}

/** Relative file paths in the config are relative to the config file, not to the working directory. */
function resolvePaths(config: GatewayConfig, base: string): GatewayConfig {
  const at = (path: string) => (isAbsolute(path) ? path : resolve(base, path));
  const webhook = <T extends WebhookConfig>(hook: T): T => ({
    ...hook,
    caFile: at(hook.caFile),
    certFile: at(hook.certFile),
    keyFile: at(hook.keyFile),
  });
  return {
    ...config,
    ssh: { ...config.ssh, hostKeyDir: at(config.ssh.hostKeyDir) },
    log: { ...config.log, ...(config.log.file ? { file: at(config.log.file) } : {}) },
    auth: webhook(config.auth),
    configserver: webhook(config.configserver),
    ...(config.sshproxy?.privateKeyFile ? { sshproxy: { privateKeyFile: at(config.sshproxy.privateKeyFile) } } : {}),
    ...(config.audit
      ? {
          audit: {
            ...config.audit,
            ...(config.audit.directory ? { directory: at(config.audit.directory) } : {}),
            ...(config.audit.stagingDirectory ? { stagingDirectory: at(config.audit.stagingDirectory) } : {}),
            ...(config.audit.s3 ? { s3: { ...config.audit.s3, ...(config.audit.s3.credentialsFile ? { credentialsFile: at(config.audit.s3.credentialsFile) } : {}) } } : {}),
          },
        }
      : {}),
    docker: {
      ...config.docker,
      ...(config.docker.tls ? { tls: { caFile: at(config.docker.tls.caFile), certFile: at(config.docker.tls.certFile), keyFile: at(config.docker.tls.keyFile) } } : {}),
    },
    ...(config.kubernetes
      ? {
          kubernetes: {
            ...config.kubernetes,
            ...(config.kubernetes.kubeconfig ? { kubeconfig: at(config.kubernetes.kubeconfig) } : {}),
            ...(config.kubernetes.tokenFile ? { tokenFile: at(config.kubernetes.tokenFile) } : {}),
            ...(config.kubernetes.caFile ? { caFile: at(config.kubernetes.caFile) } : {}),
          },
        }
      : {}),
  };
}
