import { access, chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCertificate, createCertificateAuthority, type IssuedCertificate } from './certificate.ts';

export interface CertificatePaths {
  cert: string;
  key: string;
}

/** Where createPki puts each file; pure, so callers can compute it without touching disk. */
export interface PkiPaths {
  dir: string;
  ca: CertificatePaths;
  authserver: CertificatePaths;
  configserver: CertificatePaths;
  gateway: CertificatePaths;
}

export interface CreatePkiOptions {
  /** Extra DNS names or IPs for both server certificates (e.g. a compose service alias). */
  extraSans?: string[];
  validityDays?: number;
}

export interface CreatePkiResult {
  paths: PkiPaths;
  /** false when ca.crt was already there and nothing was written. */
  created: boolean;
}

// Every server cert answers to its service name and to loopback, so the same files work
// in compose (by service name) and in tests (127.0.0.1 / ::1 / localhost).
const LOOPBACK_SANS = ['localhost', '127.0.0.1', '::1'];

export function pkiPaths(dir: string): PkiPaths {
  const pair = (name: string): CertificatePaths => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) });
  return { dir, ca: pair('ca'), authserver: pair('authserver'), configserver: pair('configserver'), gateway: pair('gateway') };
}

/**
 * Writes a CA, the two server certificates and the gateway client certificate into `dir`.
 * Idempotent: if `ca.crt` exists nothing is touched. ca.crt is written last, so a run that
 * dies halfway leaves no ca.crt and the next run starts again from scratch.
 */
export async function createPki(dir: string, options: CreatePkiOptions = {}): Promise<PkiPaths> {
  return (await ensurePki(dir, options)).paths;
}

/** createPki, also saying whether it wrote anything (the CLI reports that). */
export async function ensurePki(dir: string, options: CreatePkiOptions = {}): Promise<CreatePkiResult> {
  const paths = pkiPaths(dir);
  if (await exists(paths.ca.cert)) return { paths, created: false };

  // 0700: the folder holds private keys; mode only applies when mkdir creates it.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const validity = options.validityDays === undefined ? {} : { validityDays: options.validityDays };
  const ca = await createCertificateAuthority(validity);
  const extra = options.extraSans ?? [];

  for (const name of ['authserver', 'configserver'] as const) {
    const issued = await createCertificate(ca, {
      commonName: name,
      sans: unique([name, ...LOOPBACK_SANS, ...extra]),
      usage: 'server',
      ...validity,
    });
    await writePair(paths[name], issued);
  }
  await writePair(paths.gateway, await createCertificate(ca, { commonName: 'gateway', sans: ['gateway'], usage: 'client', ...validity }));
  await writePair(paths.ca, { certPem: ca.certPem, keyPem: ca.keyPem });
  return { paths, created: true };
}

async function writePair(paths: CertificatePaths, issued: IssuedCertificate): Promise<void> {
  await writeSecret(paths.key, issued.keyPem);
  await writeFile(paths.cert, issued.certPem, { mode: 0o644 });
}

async function writeSecret(file: string, content: string): Promise<void> {
  await writeFile(file, content, { mode: 0o600 });
  // writeFile's mode applies only to new files; a leftover key from a half-finished run keeps its old mode.
  await chmod(file, 0o600);
}

function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

function unique(names: string[]): string[] {
  return [...new Set(names)];
}
