import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { waitForNoSessionContainers } from '../helpers/docker.ts';
import { logMark } from '../helpers/log-wait.ts';
import { runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { E2E } from '../helpers/deadlines.ts';

/**
 * A load balancer in miniature: accepts on 127.0.0.1, connects to the gateway from 127.0.0.3 (the
 * only trusted proxy), sends `header` first, then relays both ways.
 */
async function balancer(gatewayPort: number, header: Buffer): Promise<{ server: Server; port: number }> {
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: gatewayPort, localAddress: '127.0.0.3' }, () => {
      upstream.write(header);
      client.pipe(upstream).pipe(client);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}

describe('PROXY protocol behind a load balancer (ssh.proxyProtocol)', () => {
  let world: World;
  const balancers: Server[] = [];
  before(async () => {
    world = await startWorld({ gateway: { ssh: { proxyProtocol: { trustedProxies: ['127.0.0.3/32'], headerTimeout: '2s' } } } });
  });
  after(async () => {
    for (const server of balancers) server.close();
    await world.stop();
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId), [], 'no session container is left');
  });
  const through = async (header: Buffer) => {
    const relay = await balancer(world.sshPort, header);
    balancers.push(relay.server);
    return runSsh({ port: relay.port, username: world.username, password: world.password, command: 'echo in' });
  };

  test('v1 and v2 headers: the client address they name is the one authserver and the gateway see', E2E, async () => {
    const v1 = await through(Buffer.from(`PROXY TCP4 203.0.113.7 127.0.0.1 40001 ${world.sshPort}\r\n`));
    assert.equal(v1.code, 0, v1.stderr);
    assert.equal(v1.stdout, 'in\n');
    const v2 = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0, 12, 198, 51, 100, 9, 127, 0, 0, 1, 0x9c, 0x42, 0, 22]);
    const second = await through(v2);
    assert.equal(second.code, 0, second.stderr);
    const seen = world.authserver.logs.filter((line) => line.code === 'AUTHSERVER_PASSWORD_ACCEPTED').map((line) => line.remoteAddress);
    assert.deepEqual(seen.slice(-2), ['203.0.113.7:40001', '198.51.100.9:40002']);
    assert.ok(
      world.gateway.logs.some((line) => line.remoteAddress === '203.0.113.7:40001'),
      'the gateway logs the client, not the balancer',
    );
  });

  test('a peer that is not a trusted proxy, or a bad header, is dropped before SSH', E2E, async () => {
    const mark = logMark(world.gateway);
    const direct = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'echo in' });
    assert.equal(direct.code, 255, 'a direct client could claim any address: refused');
    assert.equal((await mark.next('SSH_PROXY_UNTRUSTED')).peer, '127.0.0.1');
    const forged = await through(Buffer.from('SSH-2.0-not-a-header\r\n'));
    assert.equal(forged.code, 255);
    assert.match(String((await mark.next('SSH_PROXY_HEADER_INVALID')).reason), /not a PROXY protocol/);
  });
});
