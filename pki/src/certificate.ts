// tsyringe, used inside @peculiar/x509, needs a Reflect metadata polyfill loaded before it.
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

// Node's WebCrypto; set once so every @peculiar/x509 call below uses it.
const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

// P-256 with SHA-256: supported by every TLS stack we talk to and cheap to generate.
const KEY_ALGORITHM: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING_ALGORITHM: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 24 * 60 * 60 * 1000;
// Backdate notBefore a little so a peer whose clock is slightly behind still accepts a fresh cert.
const CLOCK_SKEW_MS = 5 * 60 * 1000;

export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
  cert: x509.X509Certificate;
  privateKey: CryptoKey;
}

/** A PEM certificate and its PKCS#8 PEM private key. */
export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
}

/** Either explicit dates (tests use past dates for expired certs) or a length in days from now. */
export interface Validity {
  notBefore?: Date;
  notAfter?: Date;
  validityDays?: number;
}

export type CertificateUsage = 'server' | 'client';

export interface CertificateOptions extends Validity {
  commonName: string;
  /** DNS names or IP addresses; IPs are recognised with net.isIP. */
  sans?: string[];
  usage: CertificateUsage;
}

export async function createCertificateAuthority(options: { commonName?: string } & Validity = {}): Promise<CertificateAuthority> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialNumber(),
      name: distinguishedName(options.commonName ?? 'Portcullis CA'),
      ...dates(options, 3650),
      signingAlgorithm: SIGNING_ALGORITHM,
      keys,
      extensions: [
        // pathLength 0: this CA signs leaf certificates only, never another CA.
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { cert, certPem: cert.toString('pem'), keyPem: await exportKey(keys.privateKey), privateKey: keys.privateKey };
}

/** Reads a CA written by createPki back, so more certificates can be issued from it. */
export async function loadCertificateAuthority(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(certPem);
  const der = x509.PemConverter.decodeFirst(keyPem);
  const privateKey = await crypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, true, ['sign']);
  return { cert, certPem, keyPem, privateKey };
}

/** Issues a leaf certificate signed by `ca` with a fresh key pair. */
export async function createCertificate(ca: CertificateAuthority, options: CertificateOptions): Promise<IssuedCertificate> {
  const keys = await generateKeys();
  const serverAuth = options.usage === 'server';
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialNumber(),
      subject: distinguishedName(options.commonName),
      issuer: ca.cert.subject,
      ...dates(options, 825),
      signingAlgorithm: SIGNING_ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: ca.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        // ECDSA keys only sign (ECDHE handshakes); keyEncipherment is an RSA-only usage.
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([serverAuth ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth], false),
        new x509.SubjectAlternativeNameExtension(
          (options.sans ?? []).map((name): x509.JsonGeneralName => ({ type: isIP(name) ? 'ip' : 'dns', value: name })),
          false,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(ca.cert, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: cert.toString('pem'), keyPem: await exportKey(keys.privateKey) };
}

async function generateKeys(): Promise<CryptoKeyPair> {
  // Extractable because the private key is written to disk as PKCS#8.
  return crypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

async function exportKey(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

function distinguishedName(commonName: string): string {
  if (/[,+=\\"<>;#]/.test(commonName)) throw new Error(`commonName ${JSON.stringify(commonName)} has DN special characters`);
  return `CN=${commonName}, O=Portcullis`;
}

function dates(validity: Validity, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  const notBefore = validity.notBefore ?? new Date(now - CLOCK_SKEW_MS);
  const notAfter = validity.notAfter ?? new Date(now + (validity.validityDays ?? defaultDays) * DAY_MS);
  return { notBefore, notAfter };
}

/**
 * 16 random bytes, top bit clear so the DER integer stays positive (RFC 5280 4.1.2.2) and the
 * next bit set so it never starts with a zero byte (which would be a non-minimal encoding).
 */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes.toString('hex');
}
