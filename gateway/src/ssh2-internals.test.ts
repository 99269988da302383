import assert from 'node:assert/strict';
import { createVerify, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { type Duplex, PassThrough } from 'node:stream';
import { deflateSync, constants as zlibConstants } from 'node:zlib';
import { test, type TestContext } from 'node:test';
import ssh2, { type Connection, type ServerChannel } from 'ssh2';
import { isGatewayError } from './errors.ts';
import { generateParsableKeyPair } from './host-keys.ts';
import { holdWritesThisTurn } from './write-batch.ts';
import {
  SSH2_HOOKS,
  channelOutgoing,
  channelSocket,
  connectionSocket,
  forgetSentChunk,
  missingSsh2Hooks,
  openAgentChannel,
  patchZlibPacketRead,
  sendRawPacket,
  sigSSHToASN1,
  ssh2IncompatibleError,
  wrapGlobalRequestHandler,
} from './ssh2-internals.ts';

const require = createRequire(import.meta.url);

/** An in-process ssh2 server; `onClient` sees each server-side connection. Closed after the test. */
async function serve(t: TestContext, onClient: (client: Connection) => void): Promise<number> {
  const clients = new Set<Connection>();
  const server = new ssh2.Server({ hostKeys: [generateParsableKeyPair('ed25519').private] }, (client) => {
    clients.add(client);
    client.on('error', () => undefined);
    onClient(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const client of clients) connectionSocket(client)?.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

function connect(t: TestContext, port: number, extra: Partial<ssh2.ConnectConfig> = {}): ssh2.Client {
  const client = new ssh2.Client();
  client.on('error', () => undefined);
  t.after(() => client.end());
  client.connect({ host: '127.0.0.1', port, username: 'u', password: 'p', ...extra });
  return client;
}

/** A session channel running a command, server side, from a logged-in client. */
async function shellChannel(t: TestContext): Promise<{ server: ServerChannel; client: ssh2.ClientChannel }> {
  let resolveServer!: (channel: ServerChannel) => void;
  const serverSide = new Promise<ServerChannel>((resolve) => (resolveServer = resolve));
  const port = await serve(t, (client) => {
    client.on('authentication', (ctx) => ctx.accept());
    client.on('session', (accept) => accept().on('exec', (acceptExec) => resolveServer(acceptExec())));
  });
  const client = connect(t, port);
  await once(client, 'ready');
  const clientSide = await new Promise<ssh2.ClientChannel>((resolve, reject) => client.exec('true', (error, channel) => (error ? reject(error) : resolve(channel))));
  return { server: await serverSide, client: clientSide };
}

test('every hook is present in the pinned ssh2', async () => {
  assert.deepEqual(await missingSsh2Hooks(), []);
});

test('a missing hook refuses the start with a GATEWAY_SSH2_INCOMPATIBLE error naming it', async () => {
  const utils = require('ssh2/lib/protocol/utils.js') as { sendPacket?: unknown };
  const sendPacket = utils.sendPacket;
  delete utils.sendPacket;
  try {
    const missing = await missingSsh2Hooks();
    assert.deepEqual(missing, ['lib/protocol/utils.js sendPacket']);
    const refusal = ssh2IncompatibleError(missing);
    assert.ok(isGatewayError(refusal));
    assert.equal(refusal.code, 'GATEWAY_SSH2_INCOMPATIBLE');
    assert.match(refusal.userMessage, /lib\/protocol\/utils\.js sendPacket/);
  } finally {
    utils.sendPacket = sendPacket;
  }
  assert.equal(ssh2IncompatibleError([]), undefined);
  assert.equal(new Set(SSH2_HOOKS).size, SSH2_HOOKS.length);
});

/** RFC 4251 §5 mpint, as a length-prefixed SSH string. */
function mpint(value: Buffer): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start += 1;
  const trimmed = value.subarray(start);
  const body = trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
}

test('hook sigSSHToASN1: an ECDSA signature in SSH wire form verifies with node:crypto once converted', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const data = Buffer.from('portcullis');
  const raw = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const wire = Buffer.concat([mpint(raw.subarray(0, 32)), mpint(raw.subarray(32))]);
  const der = sigSSHToASN1(wire, 'ecdsa-sha2-nistp256');
  assert.ok(der);
  assert.ok(createVerify('sha256').update(data).verify(publicKey, der));
  assert.ok(!createVerify('sha256').update(Buffer.from('other')).verify(publicKey, der));
});

test('hook ZlibPacketReader: a packet inflating past the bound throws, a small one reads', () => {
  patchZlibPacketRead(4096);
  const { ZlibPacketReader } = require('ssh2/lib/protocol/zlib.js') as { ZlibPacketReader: new () => { read(data: Buffer): Buffer } };
  const sync = { flush: zlibConstants.Z_SYNC_FLUSH };
  assert.equal(new ZlibPacketReader().read(deflateSync(Buffer.alloc(1000), sync)).length, 1000);
  assert.throws(() => new ZlibPacketReader().read(deflateSync(Buffer.alloc(64 * 1024), sync)));
});

test('hook Connection._sock: destroying it drops the client', async (t) => {
  const port = await serve(t, (client) => {
    client.on('authentication', (ctx) => ctx.accept());
    client.on('ready', () => connectionSocket(client)?.destroy());
  });
  const client = connect(t, port);
  await once(client, 'close');
});

test('hook Connection._protocol._handlers.GLOBAL_REQUEST: a keepalive ssh2 answers itself is seen', async (t) => {
  const seen: string[] = [];
  let wrapped = false;
  const port = await serve(t, (client) => {
    wrapped = wrapGlobalRequestHandler(client, (name) => seen.push(name));
    client.on('authentication', (ctx) => ctx.accept());
  });
  const client = connect(t, port, { keepaliveInterval: 20, keepaliveCountMax: 1000 });
  await once(client, 'ready');
  const end = Date.now() + 10_000;
  while (!seen.includes('keepalive@openssh.com') && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.ok(wrapped);
  assert.ok(seen.includes('keepalive@openssh.com'), `seen: ${seen.join(',')}`);
});

test('hook Connection._protocol._packetRW.write: a raw USERAUTH_BANNER reaches the client', async (t) => {
  const line = 'Login refused: test.\r\n';
  const port = await serve(t, (client) => {
    client.on('authentication', (ctx) => {
      const length = Buffer.byteLength(line);
      sendRawPacket(client, 1 + 4 + length + 4, (packet, offset) => {
        packet[offset] = 53;
        packet.writeUInt32BE(length, offset + 1);
        packet.write(line, offset + 5, length, 'utf8');
        packet.writeUInt32BE(0, offset + 5 + length);
      });
      ctx.reject([]);
    });
  });
  const client = connect(t, port);
  const [banner] = (await once(client, 'banner')) as [string];
  assert.equal(banner, line);
});

test('hook Connection._chanMgr and openssh_authAgent: an agent channel opens to a forwarding client', async (t) => {
  let opened!: (result: { error?: Error; channel?: Duplex }) => void;
  const result = new Promise<{ error?: Error; channel?: Duplex }>((resolve) => (opened = resolve));
  const port = await serve(t, (client) => {
    client.on('authentication', (ctx) => ctx.accept());
    client.on('session', (accept) => {
      accept()
        .on('auth-agent', (acceptAgent) => {
          acceptAgent?.();
          openAgentChannel(client, (error, channel) => opened({ error, channel }));
        })
        .on('exec', (acceptExec) => acceptExec());
    });
  });
  // A stand-in agent: ssh2's client accepts the agent channel when its agent gives a stream.
  const agent = Object.assign(Object.create(ssh2.BaseAgent.prototype) as object, {
    getIdentities: (callback: (error: Error | undefined, keys?: unknown[]) => void) => callback(undefined, []),
    sign: (_key: unknown, _data: Buffer, callback: (error: Error) => void) => callback(new Error('no keys')),
    getStream: (callback: (error: Error | undefined, stream?: Duplex) => void) => callback(undefined, new PassThrough()),
  });
  const client = connect(t, port, { agent: agent as never, agentForward: true });
  await once(client, 'ready');
  client.exec('true', { agentForward: true } as ssh2.ExecOptions, () => undefined);
  const { error, channel } = await result;
  assert.equal(error, undefined);
  assert.ok(channel);
  channel.destroy();
});

test('hook Channel.outgoing: open with a window while the client is there, closed after', async (t) => {
  const { server, client } = await shellChannel(t);
  assert.equal(channelOutgoing(server)?.state, 'open');
  assert.ok((channelOutgoing(server)?.window ?? 0) > 0);
  server.resume();
  client.close();
  await once(server, 'close', { signal: AbortSignal.timeout(10_000) });
  assert.equal(channelOutgoing(server)?.state, 'closed');
});

test('hook Channel._chunk: a write past the window leaves its rest there, and forgetting clears it', async (t) => {
  const { server, client } = await shellChannel(t);
  client.pause();
  const window = channelOutgoing(server)?.window ?? 0;
  server.write(Buffer.alloc(window + 1000));
  const internals = server as unknown as { _chunk?: Buffer };
  assert.equal(internals._chunk?.length, 1000);
  forgetSentChunk(server);
  assert.equal(internals._chunk, undefined);
});

test('hook Channel._client._sock: packets written while it is corked for the turn reach the client whole and in order', async (t) => {
  const { server, client } = await shellChannel(t);
  const socket = channelSocket(server);
  assert.ok(socket, 'the channel names its connection socket');
  const received: Buffer[] = [];
  client.on('data', (data: Buffer) => received.push(data));
  const chunks = [0, 1, 2].map((index) => randomBytes(20_000 + index));
  holdWritesThisTurn(socket);
  for (const chunk of chunks) server.write(chunk);
  assert.equal(socket.writableCorked, 1, 'held until the check phase');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(socket.writableCorked, 0, 'released within the turn');
  const expected = Buffer.concat(chunks);
  const deadline = Date.now() + 10_000;
  while (Buffer.concat(received).length < expected.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(Buffer.concat(received).equals(expected));
});
