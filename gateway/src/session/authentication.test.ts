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
