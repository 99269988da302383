#!/usr/bin/env -S node --import tsx
import { parseArgs } from 'node:util';
import type { AddressInfo } from 'node:net';
import { buildApp } from './app.ts';
import { ConfigError, loadConfig, readTlsMaterial } from './config.ts';
import { LogCode, RouteNotFoundError } from './errors.ts';
import { createLogger } from './logger.ts';
import { openLogDestination, RequestMetrics, startOpsListeners } from './ops/index.ts';
import { loadPolicy, PolicyError } from './policy/index.ts';
import { policyHealthCheck, PolicyStore } from './policy/store.ts';

const USAGE = 'usage: configserver [serve] --config FILE\n';

async function serve(configFile: string): Promise<number> {
  const bootLogger = createLogger('info');
  let config;
  let tls;
  let policy;
  try {
    config = await loadConfig(configFile);
    tls = await readTlsMaterial(config.tls);
    policy = await loadPolicy(config.policyDir);
  } catch (err) {
    if (err instanceof ConfigError) {
      bootLogger.error({ code: LogCode.CONFIG_INVALID }, err.message);
      return 1;
    }
    if (err instanceof PolicyError) {
      bootLogger.error({ code: LogCode.POLICY_INVALID }, err.message);
      return 1;
    }
    throw err;
  }
  const logger = createLogger(config.log.level, openLogDestination(config.log, 'portcullis-configserver'));
  logger.info({ code: LogCode.POLICY_LOADED, file: policy.baselineFile }, 'policy loaded');
  const metrics = new RequestMetrics();
  const store = new PolicyStore(policy, logger);
  const app = buildApp({ policy, tls, logger, metrics, store, http: config.http });
  await app.listen({ host: config.listen.host, port: config.listen.port });
  const address = app.server.address() as AddressInfo;
  logger.info({ code: LogCode.LISTENING, address: address.address, port: address.port }, 'configserver listening');
  const ops = await startOpsListeners({
    metrics: config.metrics?.listen,
    health: config.health?.listen,
    registry: metrics.registry,
    checks: [policyHealthCheck(store)],
    notFoundCode: new RouteNotFoundError().code,
  });
  for (const { serves, address: host, port } of ops.listening) logger.info({ code: LogCode.OPS_LISTENING, serves, address: host, port }, `${serves} listener up`);

  const stop = (signal: string) => {
    logger.info({ code: LogCode.STOPPING, signal }, 'configserver stopping');
    Promise.all([app.close(), ops.close()]).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string' } } });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const [command = 'serve', ...rest] = parsed.positionals;
  if (command === 'serve' && rest.length === 0 && parsed.values.config) return serve(parsed.values.config);
  process.stderr.write(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (err: unknown) => {
    createLogger('info').fatal({ code: LogCode.START_FAILED, err }, 'configserver failed');
    process.exitCode = 1;
  },
);
