import { createHash } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import sshpk from 'sshpk';
import type { RevocationFile } from './revocation.ts';
import { certificateParts, verifySshSignature } from '@portcullis/kit';

export const CERTIFICATE_TYPE = /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa|rsa-sha2-(256|512))-cert-v01@openssh\.com$/;

/** Why a certificate was refused; each has its own log code. */
export type CertificateRefusal = 'invalid' | 'ca-unknown' | 'revoked' | 'not-yet-valid' | 'expired' | 'principal-mismatch' | 'source-address-denied' | 'critical-option-unsupported';

export type CertificateCheck =
  | {
      readonly ok: true;
      readonly keyId: string;
      readonly serial: string;
      readonly principals: readonly string[];
      /** The CA's key fingerprint (SHA256:...). */
      readonly ca: string;
      /** `force-command` critical option: the only command the session may run. */
      readonly forceCommand?: string;
      /** Extensions granted by the CA (permit-pty, permit-port-forwarding, ...). */
      readonly extensions: readonly string[];
    }
  | { readonly ok: false; readonly reason: CertificateRefusal; readonly detail: string };

/** Critical options this server understands (PROTOCOL.certkeys); any other refuses the certificate. */
const KNOWN_CRITICAL_OPTIONS = new Set(['force-command', 'source-address']);

/**
 * Verifies OpenSSH user certificates against trusted CA keys, as sshd's TrustedUserCAKeys
 * does: the CA's signature, the validity window, the SSH username among the principals, the
 * critical options, and the revocation list. The gateway has already checked that the client
 * holds the certificate's private key.
 */
export class UserCertificateVerifier {
  /** Each trusted CA as its raw public key blob, compared byte for byte with the certificate's. */
  private readonly caKeys: ReadonlyArray<{ readonly blob: Buffer; readonly fingerprint: string }>;

  constructor(
    caKeyLines: readonly string[],
    private readonly revocation: RevocationFile,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.caKeys = caKeyLines.map((line) => {
      const blob = Buffer.from(line.trim().split(/\s+/)[1] ?? '', 'base64');
      return { blob, fingerprint: fingerprint(blob) };
    });
  }

  get caCount(): number {
    return this.caKeys.length;
  }

  /** `publicKey` is `type base64` as the gateway sends it; `remoteAddress` is `ip:port`. */
  async check(publicKey: string, username: string, remoteAddress: string): Promise<CertificateCheck> {
    const [type = '', data = ''] = publicKey.split(' ');
    const blob = Buffer.from(data, 'base64');
    let cert: sshpk.Certificate;
    try {
      // sshpk reads the text form; the type named inside the blob is the one it checks against.
      cert = sshpk.parseCertificate(`${innerType(blob)} ${data}`, 'openssh');
    } catch (err) {
      return refuse('invalid', `not an OpenSSH certificate: ${(err as Error).message}`);
    }
    const openssh = (cert.signatures as { openssh?: OpenSshFields }).openssh;
    const parts = certificateParts(blob);
    if (!CERTIFICATE_TYPE.test(type) || !openssh || !parts) return refuse('invalid', `malformed certificate of type ${type}`);
    if (cert.subjects[0]?.type !== 'user') return refuse('invalid', 'a host certificate, not a user certificate');

    const ca = this.caKeys.find((key) => key.blob.equals(parts.caKey));
    if (!ca) return refuse('ca-unknown', `signed by ${fingerprint(parts.caKey)}, not a trusted CA`);
    // sshpk only compares the embedded CA key; the CA's signature itself is checked here.
    if (!verifySshSignature(ca.blob, parts.signed, parts.signature)) return refuse('ca-unknown', 'the CA signature does not verify');

    const serial = (cert as unknown as { serial: Buffer }).serial.readBigUInt64BE(0);
    const keyId = openssh.keyId;
    const revoked = await this.revocation.current();
    if (revoked.serials.has(serial)) return refuse('revoked', `serial ${serial} is revoked`);
    if (revoked.keyIds.has(keyId)) return refuse('revoked', `key id ${JSON.stringify(keyId)} is revoked`);
    if (revoked.keys.has(authorizedKey(parts.subjectKey))) return refuse('revoked', `the certified key ${fingerprint(parts.subjectKey)} is revoked`);
    if (revoked.keys.has(authorizedKey(ca.blob))) return refuse('revoked', `the CA key ${ca.fingerprint} is revoked`);

    const now = BigInt(Math.floor(this.now().getTime() / 1000));
    const validAfter = rawTime(cert.validFrom);
    const validBefore = rawTime(cert.validUntil);
    if (now < validAfter) return refuse('not-yet-valid', `valid from ${describeTime(validAfter)}`);
    if (now >= validBefore) return refuse('expired', `expired ${describeTime(validBefore)}`);

    // An empty principals list (sshpk shows it as "*") matches nobody, as with sshd's TrustedUserCAKeys.
    const principals = cert.subjects.map((subject) => subject.uid ?? '').filter((principal) => principal !== '' && principal !== '*');
    if (!principals.includes(username)) return refuse('principal-mismatch', `${JSON.stringify(username)} is not among the principals ${JSON.stringify(principals)}`);

    let forceCommand: string | undefined;
    const extensions: string[] = [];
    for (const ext of openssh.exts) {
      if (!ext.critical) {
        extensions.push(ext.name);
        continue;
      }
      if (!KNOWN_CRITICAL_OPTIONS.has(ext.name)) return refuse('critical-option-unsupported', `critical option ${JSON.stringify(ext.name)}`);
      const value = readSshString(ext.data);
      if (value === undefined) return refuse('invalid', `critical option ${ext.name} is malformed`);
      if (ext.name === 'force-command') forceCommand = value;
      if (ext.name === 'source-address' && !addressAllowed(remoteAddress, value)) {
        return refuse('source-address-denied', `${remoteAddress} is not in source-address ${value}`);
      }
    }
    return {
      ok: true,
      keyId,
      serial: serial.toString(),
      principals,
      ca: ca.fingerprint,
      ...(forceCommand !== undefined ? { forceCommand } : {}),
      extensions,
    };
  }
}

interface OpenSshFields {
  keyId: string;
  exts: Array<{ critical: boolean; name: string; data: Buffer }>;
}

function refuse(reason: CertificateRefusal, detail: string): CertificateCheck {
  return { ok: false, reason, detail };
}

/** The certificate's own 64-bit seconds (sshpk turns "forever", 2^64-1, into an invalid Date). */
function rawTime(date: Date): bigint {
  const raw = (date as Date & { sourceInt64?: Buffer }).sourceInt64;
  return raw ? raw.readBigUInt64BE(0) : BigInt(Math.floor(date.getTime() / 1000));
}

function describeTime(seconds: bigint): string {
  return seconds > 253402300799n ? 'forever' : new Date(Number(seconds) * 1000).toISOString();
}

function readSshString(data: Buffer): string | undefined {
  if (data.length < 4) return undefined;
  const length = data.readUInt32BE(0);
  return 4 + length === data.length ? data.subarray(4).toString('utf8') : undefined;
}

/** `source-address`: comma-separated addresses and CIDR blocks (PROTOCOL.certkeys). */
function addressAllowed(remoteAddress: string, list: string): boolean {
  const ip = remoteAddress.replace(/^\[([^\]]+)\]:\d+$/, '$1').replace(/^([^:]+):\d+$/, '$1');
  const family = isIP(ip);
  if (family === 0) return false;
  const blocks = new BlockList();
  for (const entry of list
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)) {
    const [address = '', prefix] = entry.split('/');
    const entryFamily = isIP(address);
    if (entryFamily === 0) return false; // a malformed list allows nobody
    const type = entryFamily === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) blocks.addAddress(address, type);
    else blocks.addSubnet(address, Number(prefix), type);
  }
  return blocks.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

/** The first string of an SSH blob: the certificate's own type name. */
function innerType(blob: Buffer): string {
  if (blob.length < 4) return '';
  const length = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + Math.min(length, 64)).toString('latin1');
}

/** `SHA256:...` as ssh-keygen -l prints it. */
function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** `type base64` of a public key blob, the form the revocation list holds. */
function authorizedKey(keyBlob: Buffer): string {
  const length = keyBlob.length >= 4 ? keyBlob.readUInt32BE(0) : 0;
  return `${keyBlob.subarray(4, 4 + length).toString('latin1')} ${keyBlob.toString('base64')}`;
}
