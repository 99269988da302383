import { createRequire } from 'node:module';
import type { Connection } from 'ssh2';

const require = createRequire(import.meta.url);
const { sendPacket } = require('ssh2/lib/protocol/utils.js') as {
  sendPacket: (protocol: unknown, packet: Buffer) => boolean;
};

/** RFC 4252 §5.4 SSH_MSG_USERAUTH_BANNER. */
const MSG_USERAUTH_BANNER = 53;

interface PacketWriter {
  allocStart: number;
  alloc(length: number): Buffer;
  finalize(packet: Buffer): Buffer;
}

/**
 * Shows one line to the user before authentication completes (RFC 4252 §5.4 allows a
 * banner at any time during user authentication). OpenSSH prints it on stderr. ssh2 only
 * sends its static banner once, so a refusal message needs this small reach into the
 * protocol object; if ssh2's internals ever change, the refusal still happens, silently.
 */
export function showUserAuthMessage(client: Connection, line: string): boolean {
  const protocol = (client as unknown as { _protocol?: { _packetRW?: { write?: PacketWriter } } })._protocol;
  const writer = protocol?._packetRW?.write;
  if (!writer || typeof writer.alloc !== 'function') return false;
  const text = `${line.replace(/[\r\n]+/g, ' ')}\r\n`;
  const length = Buffer.byteLength(text);
  let offset = writer.allocStart;
  const packet = writer.alloc(1 + 4 + length + 4);
  packet[offset] = MSG_USERAUTH_BANNER;
  packet.writeUInt32BE(length, ++offset);
  packet.write(text, (offset += 4), length, 'utf8');
  packet.writeUInt32BE(0, offset + length); // empty language tag
  return sendPacket(protocol, writer.finalize(packet));
}
