import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import ssh2 from 'ssh2';
import { logMark } from '../helpers/log-wait.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { E2E } from '../helpers/deadlines.ts';

/**
 * The gateway's limits before login, per connection and at once (OpenSSH's MaxAuthTries,
 * LoginGraceTime), driven by ssh2 clients that misbehave as attackers do.
 */
describe('pre-auth limits in the gateway', () => {
  let world: World;
  before(async () => {
    world = await startWorld({ gateway: { ssh: { maxAuthTries: 3, maxStartups: 2, loginGraceTime: '5s' } } });
  });
  after(() => world.stop());

  /** A client that connects and then does whatever `authHandler` says; resolves when the gateway hangs up. */
  const client = (authHandler: ssh2.ConnectConfig['authHandler']) => {
    const connection = new ssh2.Client();
    const closed = once(connection, 'close');
    connection.on('error', () => undefined);
    connection.connect({ host: '127.0.0.1', port: world.sshPort, username: world.username, authHandler, readyTimeout: 60_000 });
    return { connection, closed };
  };

  test('a connection is closed after maxAuthTries wrong passwords, each of which reached the authserver', E2E, async () => {
    const rejected = logMark(world.authserver);
    let offered = 0;
    const { closed } = client((_methods, _partial, next) => {
      offered += 1;
      // Keeps guessing for as long as the gateway lets it.
      // ssh2 takes `false` for "no more methods"; its typings leave that out.
      next(offered <= 10 ? { type: 'password', username: world.username, password: `guess-${offered}` } : (false as unknown as ssh2.AuthenticationType));
    });
    await closed;
    // The authserver's log line may reach the test after the gateway hung up.
    assert.equal(await rejected.atLeast('AUTHSERVER_PASSWORD_REJECTED', 3), 3);
    assert.ok(offered <= 4, `the gateway hung up after 3 failures (client offered ${offered})`);
    await world.gateway.waitForCode('SSH_HANDSHAKE_FAILED');
  });

  test('a client that stops answering during login is dropped after the login grace time', E2E, async () => {
    const { closed } = client(() => undefined); // never picks a method
    await closed;
    await world.gateway.waitForCode('SSH_LOGIN_GRACE_EXPIRED');
  });
});

// maxStartups (counted from accept) is proven by test/fuzz/ssh-listener.test.ts, with silent TCP connections.
