import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { CONTAINER_BACKENDS, backendWorld } from '../helpers/backend-world.ts';
import { E2E_SLOW } from '../helpers/deadlines.ts';
import { exchange, hostServer } from '../helpers/forwarding.ts';
import { freePort } from '../helpers/ports.ts';
import { pollUntilOrLast } from '../helpers/poll-until.ts';
import { clientKit, startClient, type ClientCommand, type ClientProcess } from '../helpers/ssh-clients.ts';

/**
 * Port forwarding as Dropbear's dbclient and PuTTY's plink ask for it (OpenSSH's own client is
 * in ssh-features-forwarding.test.ts): each builds its tcpip-forward and direct-tcpip requests
 * with its own implementation, and each must get what OpenSSH gets.
 */
const CLIENTS = ['dbclient', 'plink'] as const;

/** `command` with forwarding options placed before the client's own (both take options anywhere before the host). */
const withOptions = (command: ClientCommand, options: readonly string[]): ClientCommand => ({ ...command, args: [command.args[0]!, ...options, ...command.args.slice(1)] });

/** Keeps a client running for the rest of the test; it is killed (and awaited) when the test ends. */
function running(t: TestContext, command: ClientCommand): ClientProcess {
  const client = startClient(command, { holdStdin: true, timeoutMs: 120_000 });
  t.after(async () => {
    client.kill('SIGTERM');
    await client.ended;
  });
  return client;
}

for (const backend of CONTAINER_BACKENDS) {
  test(`dbclient and plink: -L reaches a server on the container loopback and -R a server on the client host, as with OpenSSH (${backend})`, E2E_SLOW, async (t) => {
    const session = await backendWorld(t, backend, { security: { forwarding: { forwardingMode: 'enable', reverseForwardingMode: 'enable' } } });
    const { world } = session;
    t.after(async () => assert.deepEqual(await session.waitForNoSessions(), [], 'no session container or pod is left'));
    const kit = await clientKit(t, { port: () => world.sshPort, username: world.username, password: world.password, hostKeyDir: join(world.dir, 'hostkeys') });

    for (const client of CLIENTS) {
      await t.test(`${client} -L: a TCP connection reaches a server on the container loopback`, async (t) => {
        const localPort = await freePort();
        // A loopback service inside the container: answers "pong" to every connection.
        const ssh = running(t, withOptions(kit.exec(client, 'echo up; for i in $(seq 20); do printf pong | nc -N -l 127.0.0.1 17777 >/dev/null; done'), ['-L', `${localPort}:127.0.0.1:17777`]));
        await ssh.waitForStdout('up');
        const answer = await pollUntilOrLast(() => exchange(localPort, 'ping'), {
          what: `pong through ${client}'s forward`,
          until: (reply) => reply !== '',
          timeoutMs: 30_000,
          intervalMs: 200,
        });
        assert.equal(answer, 'pong', `${client}: ${ssh.stderr()}`);
      });

      await t.test(`${client} -R: a connection to a port inside the container reaches a server on the client host`, async (t) => {
        const hostPort = ((await hostServer(t, client)).address() as AddressInfo).port;
        const remotePort = client === 'dbclient' ? 17779 : 17780;
        const ssh = running(
          t,
          withOptions(kit.exec(client, `for i in $(seq 100); do out=$(printf ping | nc -N 127.0.0.1 ${remotePort} 2>/dev/null); [ -n "$out" ] && break; sleep 0.2; done; echo "got:$out"`), [
            '-R',
            `${remotePort}:127.0.0.1:${hostPort}`,
          ]),
        );
        const result = await ssh.ended;
        assert.equal(result.stdout.toString('utf8'), `got:${client}:ping\n`, `${client}: ${result.stderr}`);
        assert.equal(result.code, 0, result.stderr);
      });
    }
  });
}
