import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import ssh2 from 'ssh2';
import { runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';

/**
 * The gateway's limits before login, per connection and at once (OpenSSH's MaxAuthTries,
 * LoginGraceTime, MaxStartups), driven by ssh2 clients that misbehave as attackers do.
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

  test('a connection is closed after maxAuthTries wrong passwords, each of which reached the authserver', async () => {
    const before = world.authserver.logs.filter((line) => line.code === 'AUTHSERVER_PASSWORD_REJECTED').length;
    let offered = 0;
    const { closed } = client((_methods, _partial, next) => {
      offered += 1;
      // Keeps guessing for as long as the gateway lets it.
      // ssh2 takes `false` for "no more methods"; its typings leave that out.
      next(offered <= 10 ? { type: 'password', username: world.username, password: `guess-${offered}` } : (false as unknown as ssh2.AuthenticationType));
    });
    await closed;
    assert.equal(world.authserver.logs.filter((line) => line.code === 'AUTHSERVER_PASSWORD_REJECTED').length - before, 3);
    assert.ok(offered <= 4, `the gateway hung up after 3 failures (client offered ${offered})`);
    await world.gateway.waitForCode('SSH_HANDSHAKE_FAILED');
  });

  test('a client that stops answering during login is dropped after the login grace time', async () => {
    const { closed } = client(() => undefined); // never picks a method
    await closed;
    await world.gateway.waitForCode('SSH_LOGIN_GRACE_EXPIRED');
  });

  test('past maxStartups unauthenticated connections the next one is dropped; once they go, logins work again', async () => {
    const stuck = [client(() => undefined), client(() => undefined)];
    // Both have identified themselves (they wait at the auth step) before the third comes.
    await Promise.all(stuck.map(({ connection }) => once(connection, 'handshake')));
    const third = client(() => undefined);
    await third.closed;
    await world.gateway.waitForCode('SSH_MAX_STARTUPS');
    for (const { connection } of stuck) connection.end();
    await Promise.all(stuck.map(({ closed }) => closed));
    const result = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'echo again' });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'again\n');
  });
});
