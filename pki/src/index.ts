export { createPki, ensurePki, pkiPaths } from './create-pki.ts';
export type { CertificatePaths, CreatePkiOptions, CreatePkiResult, PkiPaths } from './create-pki.ts';
export { createCertificate, createCertificateAuthority, loadCertificateAuthority } from './certificate.ts';
export type {
  CertificateAuthority,
  CertificateOptions,
  CertificateUsage,
  IssuedCertificate,
  Validity,
} from './certificate.ts';
export { exportProgramBundles, type Program } from './export-bundles.ts';
export { AUDITOR_PREFIX, issueAuditor, issuePlayer, IssueError, writeIssued } from './issue.ts';
