import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { createCertificate, loadCertificateAuthority, type IssuedCertificate } from './certificate.ts';
import { pkiPaths } from './create-pki.ts';

/** An auditor's client certificate names its holder as `auditor:<name>`: the recording player admits only these. */
export const AUDITOR_PREFIX = 'auditor:';

/** Names as they appear in a certificate subject and a file name: no separators, spaces or control characters. */
export const ISSUED_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

export class IssueError extends Error {}

async function authority(dir: string) {
  const paths = pkiPaths(dir);
  let certPem: string;
  let keyPem: string;
  try {
    [certPem, keyPem] = await Promise.all([readFile(paths.ca.cert, 'utf8'), readFile(paths.ca.key, 'utf8')]);
  } catch (err) {
    throw new IssueError(`${dir}: no CA to sign with (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); run "pki init --dir ${dir}" first`);
  }
  return loadCertificateAuthority(certPem, keyPem);
}

/** A client certificate for one auditor of the recording player, signed by the project's CA. */
export async function issueAuditor(dir: string, name: string, validityDays = 365): Promise<IssuedCertificate> {
  if (!ISSUED_NAME_PATTERN.test(name)) throw new IssueError(`"${name}": an auditor name is 1-64 letters, digits, "_", ".", "@" or "-"`);
  return createCertificate(await authority(dir), { commonName: `${AUDITOR_PREFIX}${name}`, usage: 'client', validityDays });
}

/** The recording player's server certificate, for the names browsers reach it by (plus loopback). */
export async function issuePlayer(dir: string, sans: readonly string[], validityDays = 365): Promise<IssuedCertificate> {
  for (const san of sans) if (!/^[A-Za-z0-9.:-]{1,253}$/.test(san)) throw new IssueError(`"${san}": not a host name or IP address`);
  return createCertificate(await authority(dir), { commonName: 'audit-player', sans: [...new Set([...sans, 'localhost', '127.0.0.1', '::1'])], usage: 'server', validityDays });
}

/** Writes `<out>/<name>.crt` (0644) and `<out>/<name>.key` (0600) plus the CA certificate, and returns the paths. */
export async function writeIssued(dir: string, out: string, name: string, issued: IssuedCertificate): Promise<string[]> {
  await mkdir(out, { recursive: true, mode: 0o700 });
  const key = join(out, `${name}.key`);
  const cert = join(out, `${name}.crt`);
  const ca = join(out, 'ca.crt');
  await writeFile(key, issued.keyPem, { mode: 0o600 });
  await chmod(key, 0o600);
  await writeFile(cert, issued.certPem, { mode: 0o644 });
  await writeFile(ca, await readFile(pkiPaths(dir).ca.cert), { mode: 0o644 });
  return [cert, key, ca];
}
