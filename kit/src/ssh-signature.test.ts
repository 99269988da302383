import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { test } from 'node:test';
import { verifySshSignature } from './ssh-signature.ts';

const sshString = (value: Buffer | string) => {
  const bytes = Buffer.from(value);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
};

/** RFC 4251 §5 mpint: big-endian, no needless leading zero, a zero in front when the top bit is set. */
const mpint = (unsigned: Buffer) => {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start++;
  const trimmed = unsigned.subarray(start);
  return sshString((trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
};

const CURVES = [
  { curve: 'P-256', name: 'nistp256', hash: 'sha256', size: 32 },
  { curve: 'P-384', name: 'nistp384', hash: 'sha384', size: 48 },
  { curve: 'P-521', name: 'nistp521', hash: 'sha512', size: 66 },
] as const;

test('ECDSA signatures as SSH clients send them verify on every NIST curve; a changed message or signature does not', () => {
  for (const { curve, name, hash, size } of CURVES) {
    const algorithm = `ecdsa-sha2-${name}`;
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: curve });
    const jwk = publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
    const keyBlob = Buffer.concat([sshString(algorithm), sshString(name), sshString(point)]);
    // Many signatures per curve, so r or s with the top bit set (a leading zero in the mpint) and shorter ones occur.
    for (let round = 0; round < 24; round++) {
      const data = Buffer.from(`session ${round} on ${curve}`);
      const p1363 = sign(hash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      const raw = Buffer.concat([mpint(p1363.subarray(0, size)), mpint(p1363.subarray(size))]);
      const signature = Buffer.concat([sshString(algorithm), sshString(raw)]);
      assert.equal(verifySshSignature(keyBlob, data, signature), true, `${curve} round ${round} verifies`);
      assert.equal(verifySshSignature(keyBlob, Buffer.from(`${data}!`), signature), false, `${curve}: another message does not`);
      const bent = Buffer.from(signature);
      bent[bent.length - 1] = (bent.at(-1) ?? 0) ^ 1;
      assert.equal(verifySshSignature(keyBlob, data, bent), false, `${curve}: a changed signature does not`);
      assert.equal(verifySshSignature(keyBlob, data, Buffer.concat([sshString(algorithm), sshString(raw.subarray(0, 10))])), false, `${curve}: a cut signature does not`);
    }
  }
});

test('an Ed25519 signature verifies; one under another algorithm name is refused', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const keyBlob = Buffer.concat([sshString('ssh-ed25519'), sshString(raw)]);
  const data = Buffer.from('hello');
  const signed = sign(null, data, privateKey);
  assert.equal(verifySshSignature(keyBlob, data, Buffer.concat([sshString('ssh-ed25519'), sshString(signed)])), true);
  assert.equal(verifySshSignature(keyBlob, data, Buffer.concat([sshString('ecdsa-sha2-nistp256'), sshString(signed)])), false);
});
