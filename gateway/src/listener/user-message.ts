import type { Connection } from 'ssh2';
import { sendRawPacket } from '../ssh2-internals.ts';

/** RFC 4252 §5.4 SSH_MSG_USERAUTH_BANNER. */
const MSG_USERAUTH_BANNER = 53;

/**
 * Shows one line to the user before authentication completes (RFC 4252 §5.4 allows a
 * banner at any time during user authentication). OpenSSH prints it on stderr. ssh2 only
 * sends its static banner once, so a refusal message needs this small reach into the
 * protocol object; if ssh2's internals ever change, the refusal still happens, silently.
 */
export function showUserAuthMessage(client: Connection, line: string): boolean {
  const text = `${line.replace(/[\r\n]+/g, ' ')}\r\n`;
  const length = Buffer.byteLength(text);
  return sendRawPacket(client, 1 + 4 + length + 4, (packet, start) => {
    let offset = start;
    packet[offset] = MSG_USERAUTH_BANNER;
    packet.writeUInt32BE(length, ++offset);
    packet.write(text, (offset += 4), length, 'utf8');
    packet.writeUInt32BE(0, offset + length); // empty language tag
  });
}
