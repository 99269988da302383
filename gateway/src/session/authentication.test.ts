import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuthenticationType } from 'ssh2';
import { GatewayError } from '../errors.ts';
import { startInProcessGateway } from '../../../test/helpers/in-process-gateway.ts';

test('wrong passwords: each is refused and counted; after maxAuthTries the connection ends', { timeout: 15_000 }, async (t) => {
  let penalties = 0;
  const gateway = await startInProcessGateway(t, { deps: { maxAuthTries: 2, onAuthFailed: () => (penalties += 1) } });
  let attempts = 0;
  const { error } = await gateway.refused({
    // The client would try for ever: the gateway is what stops it.
    authHandler: (_methods, _partial, next) => {
      attempts += 1;
      // ssh2 documents `false` as "stop authenticating"; its typings omit it.
      if (attempts > 5) return next(false as unknown as AuthenticationType);
      next({ type: 'password', username: 'alice', password: `wrong-${attempts}` });
    },
  });
  assert.notEqual(error.message, 'logged in');
  await gateway.waitForCode('SSH_HANDSHAKE_FAILED');
  assert.equal(gateway.lines.filter((line) => line.code === 'AUTH_FAILED').length, 2);
  assert.equal(penalties, 2, 'the listener was told of each failure');
  assert.equal(gateway.calls.password, 2, 'no third attempt reached the auth webhook');
  assert.equal(gateway.calls.config, 0, 'nothing was configured for a failed login');
});

test('an auth webhook that cannot decide refuses the login with its code, shown to the user', { timeout: 15_000 }, async (t) => {
  const gateway = await startInProcessGateway(t);
  const gatewayWithBrokenAuth = await startInProcessGateway(t, {
    deps: {
      auth: {
        password: async () => {
          throw new GatewayError('AUTH_BACKEND_ERROR', 'Login refused: the authentication service cannot be reached.');
        },
        publicKey: async () => ({ accepted: false }),
        keyboardInteractive: async () => ({ kind: 'decision', decision: { accepted: false } }),
        authorize: async () => ({ accepted: false }),
      },
    },
  });
  const { error, banners } = await gatewayWithBrokenAuth.refused();
  assert.notEqual(error.message, 'logged in');
  assert.match(banners.join(''), /Login refused: the authentication service cannot be reached\. \(AUTH_BACKEND_ERROR\)/);
  const line = await gatewayWithBrokenAuth.waitForCode('AUTH_BACKEND_ERROR');
  assert.equal(line.level, 'error');
  assert.ok(!gatewayWithBrokenAuth.lines.some((logged) => logged.code === 'AUTH_FAILED'), 'unavailable is not denied');
  // The same client logs in where the auth webhook answers.
  await gateway.connect();
});

test('a user name over the limit is refused before any webhook call or log line names it', { timeout: 15_000 }, async (t) => {
  const gateway = await startInProcessGateway(t, { deps: { maxUsernameLength: 8 } });
  const name = 'x'.repeat(9);
  const { error, banners } = await gateway.refused({ username: name });
  assert.notEqual(error.message, 'logged in');
  assert.match(banners.join(''), /longer than 8 bytes\. \(AUTH_USERNAME_TOO_LONG\)/);
  await gateway.waitForCode('AUTH_USERNAME_TOO_LONG');
  assert.equal(gateway.calls.password, 0);
  assert.ok(!JSON.stringify(gateway.lines).includes(name));
});

test('a source penalised for failed logins: its passwords are refused unheard, keys are still offered, and the refusals earn no further penalty', { timeout: 15_000 }, async (t) => {
  let failed = 0;
  let refusedForPenalty = 0;
  const gateway = await startInProcessGateway(t, {
    deps: { maxAuthTries: 3, passwordsRefusedMs: 20_000, onAuthFailed: () => (failed += 1), onRefusedForPenalty: () => (refusedForPenalty += 1) },
  });
  const offeredAfterRefusal: string[][] = [];
  let attempts = 0;
  const { error } = await gateway.refused({
    authHandler: (methods, _partial, next) => {
      if (methods) offeredAfterRefusal.push(methods);
      attempts += 1;
      if (attempts > 2) return next(false as unknown as AuthenticationType);
      next({ type: 'password', username: 'alice', password: 'secret' });
    },
  });
  assert.notEqual(error.message, 'logged in', 'even the right password is refused while the penalty lasts');
  const line = await gateway.waitForCode('SSH_SOURCE_PENALIZED');
  assert.equal(line.method, 'password');
  assert.equal(line.retryAfterSeconds, 20);
  assert.equal(gateway.calls.password, 0, 'no password reached the auth webhook');
  assert.deepEqual(offeredAfterRefusal.at(-1), ['publickey'], 'the client is told a key may still do');
  assert.equal(refusedForPenalty, 2);
  assert.equal(failed, 0, 'a refusal for the penalty is not a new failed login');
});
