import ssh2 from 'ssh2';

/** Hash of each SSH signature algorithm (RFC 8332, RFC 5656, RFC 8709); SHA-1 `ssh-rsa` is refused, as OpenSSH does. */
const SIGNATURE_HASH: Record<string, { keyType: string; hash: string | undefined }> = {
  'ssh-ed25519': { keyType: 'ssh-ed25519', hash: undefined },
  'ecdsa-sha2-nistp256': { keyType: 'ecdsa-sha2-nistp256', hash: undefined },
  'ecdsa-sha2-nistp384': { keyType: 'ecdsa-sha2-nistp384', hash: undefined },
  'ecdsa-sha2-nistp521': { keyType: 'ecdsa-sha2-nistp521', hash: undefined },
  'rsa-sha2-256': { keyType: 'ssh-rsa', hash: 'sha256' },
  'rsa-sha2-512': { keyType: 'ssh-rsa', hash: 'sha512' },
};

/**
 * Verifies an SSH signature blob (`string algorithm, string signature`, RFC 4253 §6.6) over
 * `data` with the public key blob `keyBlob` (RFC 4253 form). ssh2 parses the key: sshpk
 * re-encodes key bytes and sometimes gets ed25519 keys wrong, so it is not used for this.
 */
export function verifySshSignature(keyBlob: Buffer, data: Buffer, signatureBlob: Buffer): boolean {
  const fields = readStrings(signatureBlob, 2);
  if (!fields || fields.end !== signatureBlob.length) return false;
  const [algoBytes, raw] = fields.values as [Buffer, Buffer];
  const spec = SIGNATURE_HASH[algoBytes.toString('latin1')];
  const key = ssh2.utils.parseKey(keyBlob);
  if (!spec || key instanceof Error || key.type !== spec.keyType) return false;
  const signature = spec.keyType.startsWith('ecdsa-') ? ecdsaSignatureToDer(raw) : raw;
  if (!signature) return false;
  try {
    return key.verify(data, signature, spec.hash);
  } catch {
    return false;
  }
}

/**
 * An ECDSA signature as SSH sends it (RFC 5656 §3.1.2: `mpint r, mpint s`) in the DER form
 * ssh2's key.verify takes. An mpint is already a DER INTEGER's content (big-endian, two's
 * complement, minimal), so only the framing changes.
 */
function ecdsaSignatureToDer(raw: Buffer): Buffer | undefined {
  const parts = readStrings(raw, 2);
  if (!parts || parts.end !== raw.length || parts.values.some((part) => part.length === 0)) return undefined;
  const body = Buffer.concat(parts.values.flatMap((part) => [Buffer.from([0x02]), derLength(part.length), part]));
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  return length < 0x100 ? Buffer.from([0x81, length]) : Buffer.from([0x82, length >> 8, length & 0xff]);
}

/** Reads `count` SSH strings from the start of `buffer`; undefined when it is too short. */
export function readStrings(buffer: Buffer, count: number, from = 0): { values: Buffer[]; end: number } | undefined {
  const values: Buffer[] = [];
  let offset = from;
  for (let i = 0; i < count; i += 1) {
    if (offset + 4 > buffer.length) return undefined;
    const length = buffer.readUInt32BE(offset);
    if (offset + 4 + length > buffer.length) return undefined;
    values.push(buffer.subarray(offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  return { values, end: offset };
}

/** Number of key fields after the type in each certificate's public key (PROTOCOL.certkeys). */
const KEY_FIELDS: Record<string, number> = {
  'ssh-ed25519-cert-v01@openssh.com': 1,
  'ecdsa-sha2-nistp256-cert-v01@openssh.com': 2,
  'ecdsa-sha2-nistp384-cert-v01@openssh.com': 2,
  'ecdsa-sha2-nistp521-cert-v01@openssh.com': 2,
  'ssh-rsa-cert-v01@openssh.com': 2,
};

/** The byte ranges of an OpenSSH certificate that signatures are made and checked over. */
export interface CertificateParts {
  /** The certified key as a plain public key blob (`ssh-ed25519` + its fields). */
  readonly subjectKey: Buffer;
  /** The CA's public key blob. */
  readonly caKey: Buffer;
  /** Everything the CA signed: the certificate up to its final signature field. */
  readonly signed: Buffer;
  /** The CA's signature blob. */
  readonly signature: Buffer;
  readonly keyId: string;
  readonly principals: readonly string[];
  /** Seconds since the epoch; 2^64-1 means forever. */
  readonly validAfter: bigint;
  readonly validBefore: bigint;
}

/**
 * Splits a certificate into what signature checks need, walking the fields of
 * PROTOCOL.certkeys byte for byte (sshpk reads the other fields but neither checks the CA
 * signature nor keeps key bytes exactly).
 */
export function certificateParts(blob: Buffer): CertificateParts | undefined {
  const head = readStrings(blob, 2);
  if (!head) return undefined;
  const type = head.values[0]!.toString('latin1');
  const keyFields = KEY_FIELDS[type];
  if (keyFields === undefined) return undefined;
  const key = readStrings(blob, keyFields, head.end);
  if (!key) return undefined;
  const plainType = Buffer.from(type.replace('-cert-v01@openssh.com', ''), 'latin1');
  const typeField = Buffer.alloc(4);
  typeField.writeUInt32BE(plainType.length);
  const subjectKey = Buffer.concat([typeField, plainType, blob.subarray(head.end, key.end)]);
  let offset = key.end + 8 + 4; // serial, certificate type
  if (offset > blob.length) return undefined;
  const middle = readStrings(blob, 2, offset); // key id, principals
  if (!middle) return undefined;
  const principals: string[] = [];
  for (let at = 0; at < middle.values[1]!.length; ) {
    const principal = readStrings(middle.values[1]!, 1, at);
    if (!principal) return undefined;
    principals.push(principal.values[0]!.toString('utf8'));
    at = principal.end;
  }
  offset = middle.end + 16; // valid after, valid before
  if (offset > blob.length) return undefined;
  const validAfter = blob.readBigUInt64BE(middle.end);
  const validBefore = blob.readBigUInt64BE(middle.end + 8);
  const tail = readStrings(blob, 4, offset); // critical options, extensions, reserved, signature key
  if (!tail) return undefined;
  const signature = readStrings(blob, 1, tail.end);
  if (!signature || signature.end !== blob.length) return undefined;
  return {
    subjectKey,
    caKey: tail.values[3]!,
    signed: blob.subarray(0, tail.end),
    signature: signature.values[0]!,
    keyId: middle.values[0]!.toString('utf8'),
    principals,
    validAfter,
    validBefore,
  };
}
