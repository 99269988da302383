import { BlockList, isIP, type Socket } from 'node:net';
import type { Logger } from '../observability/index.ts';

/**
 * PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2) in front of the SSH listener:
 * a load balancer that terminates TCP sends the client's address as a header before any SSH
 * byte, and the gateway uses that address (throttling, logs, policy source CIDRs) instead of
 * the balancer's. Off unless configured; only the listed proxies may send a header, since any
 * other client could claim any address with one.
 */
export interface ProxyProtocolOptions {
  /** Addresses or CIDRs of the load balancers allowed to connect; every other peer is dropped. */
  readonly trustedProxies: readonly string[];
  /** Time the balancer has to send the whole header. */
  readonly headerTimeoutMs: number;
  readonly log: Logger;
}

/** The client a header names; `undefined` for v2 LOCAL or v1 UNKNOWN (the balancer's own health check). */
export type ProxiedSource = { readonly address: string; readonly port: number } | undefined;

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** v1: "PROXY TCP6 <39> <39> <5> <5>\r\n" is at most 107 bytes (spec section 2.1). */
const V1_MAX = 107;
/** v2: 16 fixed bytes and an address block; TLVs beyond this are refused rather than buffered. */
const V2_MAX = 16 + 512;

export class ProxyHeaderError extends Error {
  override name = 'ProxyHeaderError';
}

/**
 * Parses a complete header at the start of `data`. Returns the source and the header's length,
 * `null` when more bytes are needed, and throws ProxyHeaderError when it is not a valid header.
 */
export function parseProxyHeader(data: Buffer): { source: ProxiedSource; length: number } | null {
  if (data.length >= 1 && data[0] === V2_SIGNATURE[0]) return parseV2(data);
  if (data.length >= 1 && data[0] !== 0x50 /* P */) throw new ProxyHeaderError('not a PROXY protocol header');
  const end = data.indexOf('\r\n');
  if (end < 0) {
    if (data.length >= V1_MAX || !'PROXY '.startsWith(data.subarray(0, 6).toString('latin1'))) throw new ProxyHeaderError('not a PROXY protocol v1 header');
    return null;
  }
  if (end + 2 > V1_MAX) throw new ProxyHeaderError('PROXY v1 header too long');
  const fields = data.subarray(0, end).toString('latin1').split(' ');
  if (fields[0] !== 'PROXY') throw new ProxyHeaderError('not a PROXY protocol v1 header');
  if (fields[1] === 'UNKNOWN') return { source: undefined, length: end + 2 };
  const [, family, source, , sourcePort] = fields;
  if (fields.length !== 6 || (family !== 'TCP4' && family !== 'TCP6') || isIP(source ?? '') !== (family === 'TCP4' ? 4 : 6) || !/^\d{1,5}$/.test(sourcePort ?? '') || Number(sourcePort) > 65535) {
    throw new ProxyHeaderError('malformed PROXY v1 header');
  }
  return { source: { address: source!, port: Number(sourcePort) }, length: end + 2 };
}

function parseV2(data: Buffer): { source: ProxiedSource; length: number } | null {
  const prefix = Math.min(data.length, V2_SIGNATURE.length);
  if (!data.subarray(0, prefix).equals(V2_SIGNATURE.subarray(0, prefix))) throw new ProxyHeaderError('not a PROXY protocol v2 header');
  if (data.length < 16) return null;
  const versionCommand = data[12]!;
  const family = data[13]!;
  const length = 16 + data.readUInt16BE(14);
  if (versionCommand >> 4 !== 2) throw new ProxyHeaderError('unsupported PROXY protocol version');
  if (length > V2_MAX) throw new ProxyHeaderError('PROXY v2 header too long');
  if (data.length < length) return null;
  const command = versionCommand & 0x0f;
  if (command === 0x0) return { source: undefined, length }; // LOCAL
  if (command !== 0x1) throw new ProxyHeaderError('unsupported PROXY v2 command');
  // 0x11 TCP over IPv4: 4+4 address bytes, 2+2 ports; 0x21 TCP over IPv6: 16+16, 2+2.
  if (family === 0x11 && length >= 16 + 12) {
    return { source: { address: [...data.subarray(16, 20)].join('.'), port: data.readUInt16BE(24) }, length };
  }
  if (family === 0x21 && length >= 16 + 36) {
    const groups = Array.from({ length: 8 }, (_, i) => data.readUInt16BE(16 + i * 2).toString(16));
    return { source: { address: groups.join(':'), port: data.readUInt16BE(48) }, length };
  }
  if (family === 0x00) return { source: undefined, length }; // UNSPEC: keep the balancer's address
  throw new ProxyHeaderError('unsupported PROXY v2 address family');
}

/**
 * Whether a socket comes from one of `trustedProxies`; one that does not is logged and destroyed
 * (the cluster primary checks this before handing a socket on, and the worker again).
 */
export function trustedProxyCheck(options: Pick<ProxyProtocolOptions, 'trustedProxies' | 'log'>): (socket: Socket) => boolean {
  const trusted = new BlockList();
  for (const entry of options.trustedProxies) {
    const [address = '', bits] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) trusted.addAddress(address, family);
    else trusted.addSubnet(address, Number(bits), family);
  }
  return (socket) => {
    const peer = socket.remoteAddress ?? '';
    const peerFamily = isIP(peer) === 6 ? 'ipv6' : 'ipv4';
    if (trusted.check(peer, peerFamily) || (peer.startsWith('::ffff:') && trusted.check(peer.slice(7), 'ipv4'))) return true;
    options.log.warn({ code: 'SSH_PROXY_UNTRUSTED', peer }, 'connection from an address not in ssh.proxyProtocol.trustedProxies');
    socket.destroy();
    return false;
  };
}

/**
 * Wraps a TCP accept handler: a connection from a trusted proxy must start with a header, which
 * is consumed and whose source becomes the socket's remoteAddress/remotePort; the SSH bytes after
 * it are handed on untouched. A peer that is not trusted, a bad header or a header that takes
 * longer than `headerTimeoutMs` closes the connection before it costs anything else.
 */
export function acceptingProxyProtocol(options: ProxyProtocolOptions, accept: (socket: Socket) => void): (socket: Socket) => void {
  const fromTrustedProxy = trustedProxyCheck(options);
  return (socket) => {
    const peer = socket.remoteAddress ?? '';
    if (!fromTrustedProxy(socket)) return;
    let buffered = Buffer.alloc(0);
    const fail = (message: string) => {
      cleanup();
      options.log.warn({ code: 'SSH_PROXY_HEADER_INVALID', peer, reason: message }, 'PROXY protocol header refused');
      socket.destroy();
    };
    const timer = setTimeout(() => fail('no complete header in time'), options.headerTimeoutMs);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      let parsed;
      try {
        parsed = parseProxyHeader(buffered);
      } catch (error) {
        fail((error as Error).message);
        return;
      }
      if (!parsed) return;
      cleanup();
      socket.pause();
      const rest = buffered.subarray(parsed.length);
      if (rest.length > 0) socket.unshift(rest);
      if (parsed.source) {
        // ssh2 and the handlers read the peer from these; the balancer's address is kept for logs.
        Object.defineProperty(socket, 'remoteAddress', { value: parsed.source.address, configurable: true });
        Object.defineProperty(socket, 'remotePort', { value: parsed.source.port, configurable: true });
      }
      // Paused with the SSH bytes back in its buffer: ssh2 resumes it once its parser listens.
      accept(socket);
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', cleanup);
    };
    socket.on('data', onData);
    socket.once('close', cleanup);
    socket.on('error', () => undefined);
  };
}
