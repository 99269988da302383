import { createRequire } from 'node:module';
import { Duplex, type Writable } from 'node:stream';
import ssh2, { type Connection, type ServerChannel } from 'ssh2';
import { GatewayError } from './errors.ts';
import { generateParsableKeyPair } from './host-keys.ts';

/**
 * The one place the gateway reaches into ssh2's private internals (ssh2 is pinned exactly,
 * "1.17.0", in package.json for this reason). Each hook below names the public API ssh2
 * lacks. `checkSsh2Internals` looks for every hook at start-up, so a changed ssh2 stops the
 * gateway with the hook's name instead of failing one connection at a time.
 */

const require = createRequire(import.meta.url);

/** The hooks, by the name a start-up failure reports. */
export const SSH2_HOOKS = [
  'lib/protocol/utils.js sendPacket',
  'lib/protocol/utils.js sigSSHToASN1',
  'lib/protocol/zlib.js ZlibPacketReader._zlib._maxOutputLength',
  'Connection._sock',
  'Connection._chanMgr.add',
  'Connection._protocol.openssh_authAgent',
  'Connection._protocol._handlers.GLOBAL_REQUEST',
  'Connection._protocol._packetRW.write',
  'Channel.outgoing',
  'Channel._chunk',
  'Channel._client._sock',
] as const;
export type Ssh2Hook = (typeof SSH2_HOOKS)[number];

type OpenCallback = (error: Error | undefined, channel: Duplex) => void;
type GlobalRequestHandler = (protocol: unknown, name: string, wantReply: boolean, data: unknown) => unknown;

interface PacketWriter {
  allocStart: number;
  alloc(length: number): Buffer;
  finalize(packet: Buffer): Buffer;
}

interface ProtocolInternals {
  openssh_authAgent?(channel: number, window: number, packet: number): void;
  _handlers?: { GLOBAL_REQUEST?: GlobalRequestHandler };
  _packetRW?: { write?: PacketWriter };
}

interface ConnectionInternals {
  _sock?: { destroy(): void };
  _chanMgr?: { add(wrapper: OpenCallback & { type?: string }): number };
  _protocol?: ProtocolInternals;
}

/** ssh2 1.x channel state: `outgoing.state`/`outgoing.window`, and the split-chunk slots. */
interface ChannelInternals {
  readonly outgoing?: { readonly state?: string; readonly window?: number };
  _chunk?: unknown;
  _chunkcb?: unknown;
  _chunkErr?: unknown;
  _chunkcbErr?: unknown;
  readonly _client?: { readonly _sock?: Writable };
}

interface ZlibPacketReaderShape {
  new (): { _zlib?: { _maxOutputLength?: number } };
  prototype: { read(data: Buffer): Buffer; _zlib?: { _maxOutputLength: number } };
}

interface ProtocolUtils {
  sendPacket?: (protocol: unknown, packet: Buffer) => boolean;
  sigSSHToASN1?: (sig: Buffer, type: string) => Buffer | undefined;
}

const utils = (): ProtocolUtils => require('ssh2/lib/protocol/utils.js') as ProtocolUtils;
const zlibReader = (): ZlibPacketReaderShape | undefined => (require('ssh2/lib/protocol/zlib.js') as { ZlibPacketReader?: ZlibPacketReaderShape }).ZlibPacketReader;
const connectionInternals = (client: Connection) => client as unknown as ConnectionInternals;
const channelInternals = (channel: ServerChannel) => channel as unknown as ChannelInternals;

/** ssh2's window and packet sizes for channels the server opens (lib/protocol/constants.js). */
const AGENT_WINDOW = 2 * 1024 * 1024;
const AGENT_PACKET = 32 * 1024;

/**
 * ssh2 has no public call to convert an SSH signature blob to the ASN.1 form node:crypto
 * verifies (the publickey and certificate checks need it).
 */
export function sigSSHToASN1(signature: Buffer, type: string): Buffer | undefined {
  const convert = utils().sigSSHToASN1;
  if (!convert) throw new Error('ssh2 hook missing: lib/protocol/utils.js sigSSHToASN1');
  return convert(signature, type);
}

/**
 * Calls `before(maxOutputLength)` for every packet ssh2's inflater reads: ssh2 exposes no
 * option bounding what one compressed packet may inflate to, so its reader class is patched.
 */
export function patchZlibPacketRead(maxOutputLength: number): void {
  const reader = zlibReader();
  if (!reader) throw new Error('ssh2 hook missing: lib/protocol/zlib.js ZlibPacketReader');
  const read = reader.prototype.read;
  reader.prototype.read = function readBounded(this: ZlibPacketReaderShape['prototype'], data: Buffer): Buffer {
    if (this._zlib) this._zlib._maxOutputLength = maxOutputLength;
    return read.call(this, data);
  };
}

/** The connection's socket, to drop a connection ssh2 can no longer end (no public accessor). */
export function connectionSocket(client: Connection): { destroy(): void } | undefined {
  return connectionInternals(client)._sock;
}

/**
 * Wraps the protocol's GLOBAL_REQUEST handler: ssh2 emits `request` only for forwarding
 * requests after login and answers every other global request itself, unseen. Returns false
 * when the handler is not there.
 */
export function wrapGlobalRequestHandler(client: Connection, record: (name: string) => void): boolean {
  const handlers = connectionInternals(client)._protocol?._handlers;
  const original = handlers?.GLOBAL_REQUEST;
  if (!handlers || typeof original !== 'function') return false;
  handlers.GLOBAL_REQUEST = (self, name, wantReply, data) => {
    record(String(name));
    return original.call(handlers, self, name, wantReply, data);
  };
  return true;
}

/**
 * Sends one raw packet built by `fill` (given the buffer and the payload's first offset):
 * ssh2 has no public call for a USERAUTH_BANNER after its static banner. False when the
 * protocol's writer is not there.
 */
export function sendRawPacket(client: Connection, payloadLength: number, fill: (packet: Buffer, offset: number) => void): boolean {
  const protocol = connectionInternals(client)._protocol;
  const writer = protocol?._packetRW?.write;
  const send = utils().sendPacket;
  if (!writer || typeof writer.alloc !== 'function' || !send) return false;
  const packet = writer.alloc(payloadLength);
  fill(packet, writer.allocStart);
  return send(protocol, writer.finalize(packet));
}

/**
 * Opens an `auth-agent@openssh.com` channel to the client (OpenSSH PROTOCOL.agent). ssh2's
 * server has no public call for it, though its protocol layer does.
 */
export function openAgentChannel(client: Connection, callback: OpenCallback): void {
  const internals = connectionInternals(client);
  const wrapper: OpenCallback & { type?: string } = (error, channel) => callback(error, channel);
  wrapper.type = 'auth-agent@openssh.com';
  const id = internals._chanMgr!.add(wrapper);
  if (id === -1) {
    callback(new Error('No free channels available'), undefined as unknown as Duplex);
    return;
  }
  internals._protocol!.openssh_authAgent!(id, AGENT_WINDOW, AGENT_PACKET);
}

/** The channel's outgoing side as ssh2 tracks it (no public accessor for state or window). */
export function channelOutgoing(channel: ServerChannel): { readonly state?: string; readonly window?: number } | undefined {
  return channelInternals(channel).outgoing;
}

/**
 * ssh2 1.17 leaves a chunk it had to split in `_chunk` after sending its rest; a later window
 * adjust for the other stream would send it again and call its callback twice. Clears it.
 */
export function forgetSentChunk(channel: ServerChannel): void {
  const internals = channelInternals(channel);
  internals._chunk = internals._chunkcb = internals._chunkErr = internals._chunkcbErr = undefined;
}

/**
 * The socket of the connection a channel belongs to, to batch the packets of a burst of
 * channel writes into one writev (ssh2 writes each packet to the socket on its own).
 */
export function channelSocket(channel: ServerChannel): Writable | undefined {
  return channelInternals(channel)._client?._sock;
}

const CHECK_TIMEOUT_MS = 5_000;

/** A server-side Connection and Channel built in memory (no socket, no handshake), for the check. */
async function probeInstances(): Promise<{ client: Connection; channel: ServerChannel; close(): void }> {
  const hostKey = generateParsableKeyPair('ed25519').private;
  const server = new ssh2.Server({ hostKeys: [hostKey] });
  const socket = new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
  const client = await new Promise<Connection>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('ssh2 hook check: no connection from an in-memory socket')), CHECK_TIMEOUT_MS);
    server.once('connection', (connection) => {
      clearTimeout(timer);
      connection.on('error', () => undefined);
      resolve(connection);
    });
    server.injectSocket(socket as never);
    socket.push('SSH-2.0-portcullis-check\r\n');
  });
  const { Channel } = require('ssh2/lib/Channel.js') as {
    Channel: new (client: unknown, info: unknown, opts: unknown) => ServerChannel;
  };
  const closed = { id: undefined, window: 0, packetSize: 0, state: 'closed' };
  const channel = new Channel(client, { type: 'session', incoming: { ...closed }, outgoing: { ...closed } }, { server: true });
  return { client, channel, close: () => socket.destroy() };
}

/** Every hook ssh2 no longer offers, by name; empty when all are there. */
export async function missingSsh2Hooks(): Promise<Ssh2Hook[]> {
  const missing: Ssh2Hook[] = [];
  const u = utils();
  if (typeof u.sendPacket !== 'function') missing.push('lib/protocol/utils.js sendPacket');
  if (typeof u.sigSSHToASN1 !== 'function') missing.push('lib/protocol/utils.js sigSSHToASN1');
  const reader = zlibReader();
  const zlib = reader && typeof reader.prototype.read === 'function' ? new reader()._zlib : undefined;
  if (typeof zlib?._maxOutputLength !== 'number') missing.push('lib/protocol/zlib.js ZlibPacketReader._zlib._maxOutputLength');
  const probe = await probeInstances();
  try {
    const c = connectionInternals(probe.client);
    if (typeof c._sock?.destroy !== 'function') missing.push('Connection._sock');
    if (typeof c._chanMgr?.add !== 'function') missing.push('Connection._chanMgr.add');
    if (typeof c._protocol?.openssh_authAgent !== 'function') missing.push('Connection._protocol.openssh_authAgent');
    if (typeof c._protocol?._handlers?.GLOBAL_REQUEST !== 'function') missing.push('Connection._protocol._handlers.GLOBAL_REQUEST');
    const writer = c._protocol?._packetRW?.write;
    if (typeof writer?.alloc !== 'function' || typeof writer.finalize !== 'function' || typeof writer.allocStart !== 'number') {
      missing.push('Connection._protocol._packetRW.write');
    }
    const ch = channelInternals(probe.channel);
    if (typeof ch.outgoing?.state !== 'string' || !('window' in ch.outgoing)) missing.push('Channel.outgoing');
    if (!['_chunk', '_chunkcb', '_chunkErr', '_chunkcbErr'].every((key) => key in ch)) missing.push('Channel._chunk');
    const socket = ch._client?._sock;
    if (socket !== c._sock || typeof socket?.cork !== 'function' || typeof socket.uncork !== 'function') missing.push('Channel._client._sock');
  } finally {
    probe.close();
  }
  return missing;
}

/** The start-up refusal for `missing` hooks, naming each; undefined when none is missing. */
export function ssh2IncompatibleError(missing: readonly Ssh2Hook[]): GatewayError | undefined {
  if (missing.length === 0) return undefined;
  return new GatewayError('GATEWAY_SSH2_INCOMPATIBLE', `The installed ssh2 lacks internals the gateway relies on (${missing.join('; ')}); install ssh2 1.17.0.`);
}

let checked: Promise<Ssh2Hook[]> | undefined;

/** Refuses to go on when the installed ssh2 lacks a hook; checked once per process. */
export async function assertSsh2Internals(): Promise<void> {
  checked ??= missingSsh2Hooks();
  const refusal = ssh2IncompatibleError(await checked);
  if (refusal) throw refusal;
}
