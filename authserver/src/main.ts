#!/usr/bin/env -S node --import tsx
import { parseArgs } from 'node:util';
import { text } from 'node:stream/consumers';
import { buildApp } from './app.ts';
import { ConfigError, loadConfig, readTlsMaterial, readTrustedCaKeys } from './config.ts';
import { LoginThrottle } from './methods/brute-force/index.ts';
import { RevocationFile, RevocationListError, UserCertificateVerifier } from './methods/certificate/index.ts';
import { demoBanner, initDemoUser } from './demo-user.ts';
import { LogCode, RouteNotFoundError } from './errors.ts';
import { createLogger } from './logger.ts';
import { openLogDestination, RequestMetrics, runMain, serveWebhook } from '@portcullis/kit';
import { hashPassword, loadUsersFile, UsersFileError } from './users-file.ts';
import { UsersFileReloader } from './users-reload.ts';
import { KerberosPasswordCheck } from './methods/kerberos/index.ts';
import { passwordTotpFlow, type KeyboardInteractiveFlow } from './methods/keyboard-interactive/index.ts';
import { oidcFlow } from './methods/oidc/index.ts';
import { githubFlow } from './methods/github/index.ts';

const USAGE = `usage:
  authserver [serve] --config FILE
  authserver hash-password            (reads the password from stdin)
  authserver init-demo --users-file FILE [--username demo]
`;

async function serve(configFile: string): Promise<number> {
  const bootLogger = createLogger('info');
  let config;
  let tls;
  let users;
  let certificates;
  try {
    config = await loadConfig(configFile);
    tls = await readTlsMaterial(config.tls);
    users = await loadUsersFile(config.usersFile);
    if (config.userCertificates) {
      const revocation = new RevocationFile(config.userCertificates.revocationFile);
      // Read once now so a broken revocation list stops the start instead of every certificate login.
      await revocation.current();
      certificates = new UserCertificateVerifier(await readTrustedCaKeys(config.userCertificates.trustedCaKeysFile), revocation);
    }
  } catch (err) {
    if (!(err instanceof ConfigError || err instanceof UsersFileError || err instanceof RevocationListError)) throw err;
    bootLogger.error({ code: LogCode.CONFIG_INVALID }, err.message);
    return 1;
  }
  const logger = createLogger(config.log.level, openLogDestination(config.log, 'portcullis-authserver'));
  const metrics = new RequestMetrics();
  const limits = config.bruteForce;
  const throttle = limits
    ? new LoginThrottle({
        addressFailures: limits.addressFailures,
        addressUserFailures: limits.addressUserFailures,
        windowSeconds: limits.window,
        addressBlockSeconds: limits.addressBlock,
        addressUserBackoffSeconds: limits.addressUserBackoff,
        addressUserBackoffMaxSeconds: limits.addressUserBackoffMax,
      })
    : null;
  // An identity provider, when configured, takes every keyboard-interactive login.
  const keyboardInteractiveFlows: KeyboardInteractiveFlow[] = [
    ...(config.oidc ? [oidcFlow(config.oidc, users, logger)] : []),
    ...(config.github ? [githubFlow(config.github, users, logger)] : []),
    passwordTotpFlow(users),
  ];
  const app = buildApp({
    users,
    tls,
    http: config.http,
    logger,
    metrics,
    throttle,
    keyboardInteractiveFlows,
    ...(certificates ? { certificates } : {}),
    ...(config.kerberos ? { kerberos: new KerberosPasswordCheck(config.kerberos) } : {}),
  });
  // Users added, changed or removed in the file serve without a restart (brute-force state and
  // keyboard-interactive conversations live outside the directory and are kept).
  const reloader = new UsersFileReloader(config.usersFile, users, logger, metrics.registry);
  await reloader.start();
  await serveWebhook({
    app,
    program: 'authserver',
    listen: config.listen,
    ops: { metrics: config.metrics?.listen, health: config.health?.listen },
    metrics,
    // The last good users keep serving, but the file an operator edited does not load: say so.
    checks: [
      {
        name: 'usersFile',
        check: async () => {
          // A warning, not a failure: logins are still served, and one bad edit must not take every replica out of service.
          if (reloader.lastReloadError) return { warning: `the users file does not load (${reloader.lastReloadError}); the last good users still serve` };
        },
      },
    ],
    logger,
    codes: { listening: LogCode.LISTENING, opsListening: LogCode.OPS_LISTENING, stopping: LogCode.STOPPING, notFound: new RouteNotFoundError().code },
    listeningFields: { users: users.size },
    onStop: () => reloader.close(),
  });
  return 0;
}

async function hashPasswordCommand(): Promise<number> {
  // Strip one trailing newline so `echo secret | authserver hash-password` hashes "secret".
  const password = (await text(process.stdin)).replace(/\r?\n$/, '');
  if (password.length === 0) {
    process.stderr.write('hash-password: empty password on stdin\n');
    return 2;
  }
  process.stdout.write(`${await hashPassword(password)}\n`);
  return 0;
}

async function initDemoCommand(usersFile: string, username: string): Promise<number> {
  let result;
  try {
    result = await initDemoUser(usersFile, username);
  } catch (err) {
    process.stderr.write(`init-demo: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(result.created && result.password ? demoBanner(username, result.password, usersFile) : `Demo users file ${usersFile} already exists; the demo user is unchanged.\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        'users-file': { type: 'string' },
        username: { type: 'string', default: 'demo' },
      },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return usage();
  }
  const { positionals, values } = parsed;
  const [command = 'serve', ...rest] = positionals;
  if (rest.length > 0) return usage();
  if (command === 'serve' && values.config) return serve(values.config);
  if (command === 'hash-password') return hashPasswordCommand();
  if (command === 'init-demo' && values['users-file']) return initDemoCommand(values['users-file'], values.username);
  return usage();
}

function usage(): number {
  process.stderr.write(USAGE);
  return 2;
}

runMain(main, (err) => createLogger('info').fatal({ code: LogCode.START_FAILED, err }, 'authserver failed'));
