import { createHash } from 'node:crypto';

/** OpenSSH's SHA-256 fingerprint of a host key blob: `SHA256:` and unpadded base64. */
export function fingerprintOf(hostKey: Buffer): string {
  return `SHA256:${createHash('sha256').update(hostKey).digest('base64').replace(/=+$/, '')}`;
}

/** Pins may be written with or without base64 padding; compare without. */
export function isPinned(fingerprint: string, pins: readonly string[]): boolean {
  return pins.some((pin) => pin.replace(/=+$/, '') === fingerprint);
}
