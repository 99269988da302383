import type { CaCertificate } from '@portcullis/wire';
import { certificateParts, verifySshSignature } from '@portcullis/kit';

/** OpenSSH user certificate key algorithms (PROTOCOL.certkeys), including the RSA SHA-2 names. */
const CERTIFICATE_ALGORITHM = /^(ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa|rsa-sha2-256|rsa-sha2-512)-cert-v01@openssh\.com$/;

export function isCertificateAlgorithm(algo: string): boolean {
  return CERTIFICATE_ALGORITHM.test(algo);
}

/**
 * Checks that the client holds the private key of the certificate it offers: the publickey
 * signature must verify with the key the certificate certifies. ssh2 cannot do this itself (it
 * does not parse certificates, and hands the signature over still in SSH wire form). Whether
 * the certificate is any good (CA, validity, principals) is the auth server's decision.
 */
export function verifyCertificateSignature(algo: string, certificate: Buffer, signedData: Buffer, signature: Buffer): boolean {
  const match = CERTIFICATE_ALGORITHM.exec(algo);
  const parts = certificateParts(certificate);
  if (!match || !parts) return false;
  // The signature must use the algorithm the client named (rsa-sha2-256-cert → rsa-sha2-256).
  const named = match[1] === 'ssh-rsa' ? undefined : match[1];
  const used = signature.length >= 4 ? signature.subarray(4, 4 + signature.readUInt32BE(0)).toString('latin1') : '';
  if (named === undefined || used !== named) return false;
  return verifySshSignature(parts.subjectKey, signedData, signature);
}

/** Latest time RFC 3339 can write; an OpenSSH "forever" (2^64-1) becomes it. */
const FOREVER = 253402300799n;

/**
 * The certificate as ContainerSSH's SSH-CA branch describes it (`caCertificate` of /pubkey, a
 * wire extension ContainerSSH servers ignore), so such servers need not parse the certificate.
 * The whole certificate still travels in `publicKey`; Portcullis's authserver reads that.
 */
export function describeCertificate(certificate: Buffer): CaCertificate | undefined {
  const parts = certificateParts(certificate);
  if (!parts) return undefined;
  const typeLength = parts.caKey.length >= 4 ? parts.caKey.readUInt32BE(0) : 0;
  const time = (seconds: bigint) => new Date(Number(seconds > FOREVER ? FOREVER : seconds) * 1000).toISOString().replace(/\.000Z$/, 'Z');
  return {
    key: `${parts.caKey.subarray(4, 4 + typeLength).toString('latin1')} ${parts.caKey.toString('base64')}`,
    keyID: parts.keyId,
    validPrincipals: [...parts.principals],
    validAfter: time(parts.validAfter),
    validBefore: time(parts.validBefore),
  };
}
