#!/usr/bin/env -S node --import tsx
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { buildApp } from './app.ts';
import { ConfigError, loadConfig, readTlsMaterial } from './config.ts';
import { LogCode, RouteNotFoundError } from './errors.ts';
import { createLogger } from './logger.ts';
import { openLogDestination, RequestMetrics, runMain, serveWebhook } from '@portcullis/kit';
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
  // stdout written asynchronously: a line per answered request must not block the event loop on
  // a write(2) each; pino flushes what is pending synchronously when the process exits.
  const logger = createLogger(config.log.level, openLogDestination(config.log, 'portcullis-configserver') ?? pino.destination({ dest: 1, sync: false }));
  logger.info({ code: LogCode.POLICY_LOADED, file: policy.baselineFile }, 'policy loaded');
  const metrics = new RequestMetrics();
  const store = new PolicyStore(policy, logger);
  const app = buildApp({ policy, tls, logger, metrics, store, http: config.http });
  await serveWebhook({
    app,
    program: 'configserver',
    listen: config.listen,
    ops: { metrics: config.metrics?.listen, health: config.health?.listen },
    metrics,
    checks: [policyHealthCheck(store)],
    logger,
    codes: { listening: LogCode.LISTENING, opsListening: LogCode.OPS_LISTENING, stopping: LogCode.STOPPING, notFound: new RouteNotFoundError().code },
  });
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

runMain(main, (err) => createLogger('info').fatal({ code: LogCode.START_FAILED, err }, 'configserver failed'));
