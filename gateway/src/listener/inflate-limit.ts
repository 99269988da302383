import { patchZlibPacketRead } from '../ssh2-internals.ts';

/**
 * RFC 4253 §6: an uncompressed payload larger than this is a protocol violation (OpenSSH's
 * PACKET_MAX_SIZE). ssh2 inflates each packet with no bound at all, so one 35 KB packet of
 * compressed zeros costs tens of megabytes and a stream of them the event loop for seconds.
 */
export const MAX_INFLATED_PACKET_BYTES = 256 * 1024;

let installed = false;

/**
 * Bounds what ssh2's packet inflater may produce per packet. Past the bound ssh2's own
 * zlib wrapper throws; ssh2 turns a parse error into a closed connection, that one only.
 * ssh2 exposes no option for this, hence the patch on its (stable since 1.0) reader class.
 */
export function limitInflatedPackets(maxBytes: number = MAX_INFLATED_PACKET_BYTES): void {
  if (installed) return;
  installed = true;
  patchZlibPacketRead(maxBytes);
}
